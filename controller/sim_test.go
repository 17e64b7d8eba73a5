package controller_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
)

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
	if resp.StatusCode != 200 {
		t.Fatal(fmt.Errorf("stop: %d %s", resp.StatusCode, b))
	}
}
