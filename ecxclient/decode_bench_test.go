package ecxclient

import (
	"fmt"
	"testing"
)

// BenchmarkDecodeGroups decodes one answer of GET /api/v1/groups (10 groups, as one member of
// the controller's scale benchmark answers every second) in three ways: the poll's
// (ListGroupStates: no resources), ListGroups' (with resources), and the encoding/json decoders
// both replaced (decode_test.go), with 1 resource per group as ecxsim lists them and 5.
func BenchmarkDecodeGroups(b *testing.B) {
	for _, res := range []int{1, 5} {
		body := groupsBody(10, res)
		for _, d := range []struct {
			name  string
			parse func([]byte) (*envelope, error)
			dec   func(*envelope) ([]Group, error)
		}{
			{"states", parseEnvelope, decodeGroupStates},
			{"full", parseEnvelope, decodeGroups},
			{"encoding-json", refParseEnvelope, refDecodeGroups},
		} {
			b.Run(fmt.Sprintf("%s/resources=%d", d.name, res), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					env, err := d.parse(body)
					if err != nil {
						b.Fatal(err)
					}
					if gs, err := d.dec(env); err != nil || len(gs) != 10 {
						b.Fatal(len(gs), err)
					}
				}
			})
		}
	}
}

// BenchmarkDecodeServers decodes one answer of GET /api/v1/servers (2 servers), the other
// request of every poll.
func BenchmarkDecodeServers(b *testing.B) {
	body := []byte(`{"result":{"code":0,"message":""},"servers":[{"name":"m0123-1","status":"Online"},{"name":"m0123-2","status":"Online"}]}`)
	for _, d := range []struct {
		name  string
		parse func([]byte) (*envelope, error)
		dec   func(*envelope) ([]Server, error)
	}{
		{"one-pass", parseEnvelope, decodeServers},
		{"encoding-json", refParseEnvelope, refDecodeServers},
	} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				env, err := d.parse(body)
				if err != nil {
					b.Fatal(err)
				}
				if ss, err := d.dec(env); err != nil || len(ss) != 2 {
					b.Fatal(len(ss), err)
				}
			}
		})
	}
}
