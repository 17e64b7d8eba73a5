package controller_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// startGroup starts a group on a member's server through the simulator's REST API, by hand.
func startGroup(t *testing.T, e *env, member, group, server string) {
	t.Helper()
	post(t, e, member, "/api/v1/groups/"+group+"/start", `{"target":"`+server+`"}`)
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func post(t *testing.T, e *env, member, path, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.sim.ServerURL(member, member+"-1")+path, strings.NewReader(body))
	req.SetBasicAuth("admin", "pw-"+member)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !succeeded(resp.StatusCode, b) {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
}

// succeeded reports whether an ECX answer is a success: HTTP 200 with code 0 and an empty
// message. In the error style "envelope" a failure is an HTTP 200 too.
func succeeded(status int, body []byte) bool {
	var env struct {
		Result struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"result"`
	}
	return status == 200 && json.Unmarshal(body, &env) == nil && env.Result.Code == 0 && env.Result.Message == ""
}

// stopGroup stops a group on a member through the simulator's REST API, as an operator or
// ECX itself might.
func stopGroup(t *testing.T, e *env, member, group string) {
	t.Helper()
	url := e.sim.ServerURL(member, member+"-1") + "/api/v1/groups/" + group + "/stop"
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(nil))
	req.SetBasicAuth("admin", "pw-"+member)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !succeeded(resp.StatusCode, b) {
		t.Fatal(fmt.Errorf("stop: %d %s", resp.StatusCode, b))
	}
}
