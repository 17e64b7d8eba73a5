package ecxclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// This file holds the read (GET) endpoints of docs/ecx.md. Every
// method returns one of the typed errors of errors.go on failure.

func checkName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%w: %s name is empty", ErrInvalidArgument, kind)
	}
	return nil
}

func (c *Client) get(ctx context.Context, path, query, kind, name string) (*response, error) {
	return c.do(ctx, request{method: http.MethodGet, path: path, query: query, kind: kind, name: name})
}

// GetCluster returns the cluster's name and status (GET /api/v1/cluster).
func (c *Client) GetCluster(ctx context.Context) (Cluster, error) {
	res, err := c.get(ctx, "/api/v1/cluster", "", "", "")
	if err != nil {
		return Cluster{}, err
	}
	cl, err := decodeCluster(res.env)
	if err != nil {
		return Cluster{}, c.malformed(res, err)
	}
	c.noteStatus("cluster", cl.Name, cl.RawStatus)
	return cl, nil
}

// GetToRatio returns the current timeout ratio (GET /api/v1/cluster/toratio).
func (c *Client) GetToRatio(ctx context.Context) (int, error) {
	res, err := c.get(ctx, "/api/v1/cluster/toratio", "", "", "")
	if err != nil {
		return 0, err
	}
	r, err := decodeToRatio(res.env)
	if err != nil {
		return 0, c.malformed(res, err)
	}
	return r, nil
}

// ListServers returns every server of the cluster (GET /api/v1/servers).
func (c *Client) ListServers(ctx context.Context) ([]Server, error) {
	res, err := c.get(ctx, "/api/v1/servers", "", "", "")
	if err != nil {
		return nil, err
	}
	list, err := decodeServers(res.env)
	if err != nil {
		return nil, c.malformed(res, err)
	}
	for _, s := range list {
		if s.Status == StatusUnknown { // else it parsed: noteStatus has nothing to say
			c.noteStatus("server", s.Name, s.RawStatus)
		}
	}
	return list, nil
}

// GetServer returns one server (GET /api/v1/servers/{server}).
func (c *Client) GetServer(ctx context.Context, name string) (Server, error) {
	if err := checkName("server", name); err != nil {
		return Server{}, err
	}
	res, err := c.get(ctx, "/api/v1/servers/"+url.PathEscape(name), "", "server", name)
	if err != nil {
		return Server{}, err
	}
	list, err := decodeServers(res.env)
	if err != nil {
		return Server{}, c.malformed(res, err)
	}
	s, err := pickOne(c, res, list, func(s Server) string { return s.Name }, "server", name)
	if err != nil {
		return Server{}, err
	}
	s.Name = name
	c.noteStatus("server", s.Name, s.RawStatus)
	return s, nil
}

// ListServerNames returns the server names (GET /api/v1/servers?select=name).
func (c *Client) ListServerNames(ctx context.Context) ([]string, error) {
	return c.names(ctx, "/api/v1/servers", "servers")
}

// ListGroups returns every failover group (GET /api/v1/groups).
func (c *Client) ListGroups(ctx context.Context) ([]Group, error) {
	res, err := c.get(ctx, "/api/v1/groups", "", "", "")
	if err != nil {
		return nil, err
	}
	list, err := decodeGroups(res.env)
	if err != nil {
		return nil, c.malformed(res, err)
	}
	for _, g := range list {
		c.noteGroup(g)
	}
	return list, nil
}

// ListGroupStates returns every failover group's name, status and current
// server (GET /api/v1/groups), without its resources (Resources nil): what a
// poller needs, for less work. The resources in the answer are checked for
// JSON syntax only, so an unexpected shape of them (docs/ecx.md: whether and
// how ECX lists them without ?select=resources is unknown) does not fail the
// call, as it fails ListGroups; ListGroupResources and GetGroupResources ask
// ECX for them explicitly.
func (c *Client) ListGroupStates(ctx context.Context) ([]Group, error) {
	res, err := c.get(ctx, "/api/v1/groups", "", "", "")
	if err != nil {
		return nil, err
	}
	list, err := decodeGroupStates(res.env)
	if err != nil {
		return nil, c.malformed(res, err)
	}
	for _, g := range list {
		c.noteGroup(g)
	}
	return list, nil
}

// noteGroup logs g's status if it is not part of ECX's vocabulary.
func (c *Client) noteGroup(g Group) {
	if g.Status == StatusUnknown { // else it parsed: noteStatus has nothing to say
		c.noteStatus("group", g.Name, g.RawStatus)
	}
}

// GetGroup returns one group (GET /api/v1/groups/{group}). This is the call
// to poll after an operation.
func (c *Client) GetGroup(ctx context.Context, name string) (Group, error) {
	if err := checkName("group", name); err != nil {
		return Group{}, err
	}
	res, err := c.get(ctx, "/api/v1/groups/"+url.PathEscape(name), "", "group", name)
	if err != nil {
		return Group{}, err
	}
	return c.decodeOneGroup(res, name)
}

func (c *Client) decodeOneGroup(res *response, name string) (Group, error) {
	list, err := decodeGroups(res.env)
	if err != nil {
		return Group{}, c.malformed(res, err)
	}
	g, err := pickOne(c, res, list, func(g Group) string { return g.Name }, "group", name)
	if err != nil {
		return Group{}, err
	}
	g.Name = name
	c.noteStatus("group", g.Name, g.RawStatus)
	return g, nil
}

// ListGroupNames returns the group names (GET /api/v1/groups?select=name).
func (c *Client) ListGroupNames(ctx context.Context) ([]string, error) {
	return c.names(ctx, "/api/v1/groups", "groups")
}

// GetGroupResources lists a group's resources
// (GET /api/v1/groups/{group}?select=resources). The result is empty, not
// nil, when ECX lists none.
func (c *Client) GetGroupResources(ctx context.Context, group string) ([]ResourceRef, error) {
	if err := checkName("group", group); err != nil {
		return nil, err
	}
	res, err := c.get(ctx, "/api/v1/groups/"+url.PathEscape(group), "select=resources", "group", group)
	if err != nil {
		return nil, err
	}
	g, err := c.decodeOneGroup(res, group)
	if err != nil {
		return nil, err
	}
	if g.Resources == nil {
		return []ResourceRef{}, nil
	}
	return g.Resources, nil
}

// ListResources returns every group resource (GET /api/v1/resources).
func (c *Client) ListResources(ctx context.Context) ([]Resource, error) {
	res, err := c.get(ctx, "/api/v1/resources", "", "", "")
	if err != nil {
		return nil, err
	}
	list, err := decodeResources(res.env)
	if err != nil {
		return nil, c.malformed(res, err)
	}
	for _, r := range list {
		c.noteStatus("resource", r.Name, r.RawStatus)
	}
	return list, nil
}

// GetResource returns one resource (GET /api/v1/resources/{resource}).
func (c *Client) GetResource(ctx context.Context, name string) (Resource, error) {
	if err := checkName("resource", name); err != nil {
		return Resource{}, err
	}
	res, err := c.get(ctx, "/api/v1/resources/"+url.PathEscape(name), "", "resource", name)
	if err != nil {
		return Resource{}, err
	}
	list, err := decodeResources(res.env)
	if err != nil {
		return Resource{}, c.malformed(res, err)
	}
	r, err := pickOne(c, res, list, func(r Resource) string { return r.Name }, "resource", name)
	if err != nil {
		return Resource{}, err
	}
	r.Name = name
	c.noteStatus("resource", r.Name, r.RawStatus)
	return r, nil
}

// ListResourceNames returns the resource names (GET /api/v1/resources?select=name).
func (c *Client) ListResourceNames(ctx context.Context) ([]string, error) {
	return c.names(ctx, "/api/v1/resources", "resources")
}

// ListMonitors returns every monitor (GET /api/v1/monitors).
func (c *Client) ListMonitors(ctx context.Context) ([]Monitor, error) {
	res, err := c.get(ctx, "/api/v1/monitors", "", "", "")
	if err != nil {
		return nil, err
	}
	list, err := decodeMonitors(res.env)
	if err != nil {
		return nil, c.malformed(res, err)
	}
	for _, m := range list {
		c.noteMonitor(m)
	}
	return list, nil
}

// GetMonitor returns one monitor (GET /api/v1/monitors/{monitor}).
func (c *Client) GetMonitor(ctx context.Context, name string) (Monitor, error) {
	if err := checkName("monitor", name); err != nil {
		return Monitor{}, err
	}
	res, err := c.get(ctx, "/api/v1/monitors/"+url.PathEscape(name), "", "monitor", name)
	if err != nil {
		return Monitor{}, err
	}
	list, err := decodeMonitors(res.env)
	if err != nil {
		return Monitor{}, c.malformed(res, err)
	}
	m, err := pickOne(c, res, list, func(m Monitor) string { return m.Name }, "monitor", name)
	if err != nil {
		return Monitor{}, err
	}
	m.Name = name
	c.noteMonitor(m)
	return m, nil
}

// ListMonitorNames returns the monitor names (GET /api/v1/monitors?select=name).
func (c *Client) ListMonitorNames(ctx context.Context) ([]string, error) {
	return c.names(ctx, "/api/v1/monitors", "monitors")
}

func (c *Client) noteMonitor(m Monitor) {
	c.noteStatus("monitor", m.Name, m.RawStatus)
	for _, s := range m.Servers {
		c.noteStatus("monitor", m.Name+"@"+s.Name, s.RawStatus)
	}
}

func (c *Client) names(ctx context.Context, path, key string) ([]string, error) {
	res, err := c.get(ctx, path, "select=name", "", "")
	if err != nil {
		return nil, err
	}
	var raw = map[string][]byte{
		"servers": res.env.Servers, "groups": res.env.Groups,
		"resources": res.env.Resources, "monitors": res.env.Monitors,
	}[key]
	names, err := decodeNames(raw, key)
	if err != nil {
		return nil, c.malformed(res, err)
	}
	return names, nil
}

// pickOne selects the named object from a one-object answer. An empty list
// in a 2xx answer means the object does not exist.
func pickOne[T any](c *Client, res *response, list []T, nameOf func(T) string, kind, name string) (T, error) {
	v, ok, other := pick(list, nameOf, name)
	if ok {
		return v, nil
	}
	if len(list) == 0 {
		return v, &NotFoundError{Member: c.name, URL: res.url, Kind: kind, Name: name, HTTPStatus: res.status}
	}
	return v, newMalformed(c.name, res.url, res.status, fmt.Sprintf("asked for %s %q, the answer lists %q", kind, name, other), res.body)
}
