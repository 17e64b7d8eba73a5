package ecxclient

// Cluster is the answer of GET /api/v1/cluster. ECX does not document the
// cluster status vocabulary; cset's simulator reports Online or Offline.
type Cluster struct {
	Name      string
	Status    Status
	RawStatus string // the status string exactly as ECX sent it
}

// Server is one ECX server (node) of the cluster.
type Server struct {
	Name      string
	Status    Status
	RawStatus string
}

// ResourceRef names a resource of a group, as listed in groups[].resources.
type ResourceRef struct {
	Name string
}

// Group is one ECX failover group.
type Group struct {
	Name      string
	Status    Status
	RawStatus string
	// Current is the server the group is active on, or "" when it runs
	// nowhere (ECX sends "None"; "" and null are accepted too).
	Current string
	// Resources is nil when ECX did not list them (docs/ecx.md:
	// the list may be absent unless ?select=resources is asked for).
	Resources []ResourceRef
}

// OnlineOn reports whether g is Online on server (any server when server is "").
func (g Group) OnlineOn(server string) bool {
	return g.Status == StatusOnline && g.Current != "" && (server == "" || g.Current == server)
}

// Resource is one group resource (fip, exec, md, ...).
type Resource struct {
	Name      string
	Type      string
	Status    Status
	RawStatus string
	Current   string // "" when the resource is active nowhere
	Group     string // the owning group
}

// MonitorServer is the state of one monitor on one server.
type MonitorServer struct {
	Name      string
	Status    Status
	RawStatus string
}

// Monitor is one monitor resource with its overall and per-server status.
type Monitor struct {
	Name      string
	Type      string
	Status    Status
	RawStatus string
	Servers   []MonitorServer
}
