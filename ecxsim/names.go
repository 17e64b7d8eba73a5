package ecxsim

import (
	"fmt"
	"strings"
)

// ResourceConfig is one group resource as the REST API lists it (GET /api/v1/resources).
type ResourceConfig struct {
	// Name is the resource name. ECX names resources per cluster, so it is unique among all
	// resources of the cluster: NEC's default names are fip1, exec1, md1, fip2, ...
	Name string `yaml:"name"`
	// Type is the ECX resource type the API reports, such as "fip", "exec" or "md" (mirror disk).
	Type string `yaml:"type"`
}

// MonitorConfig is one monitor resource that belongs with a group (GET /api/v1/monitors).
type MonitorConfig struct {
	// Name is the monitor name, unique among all monitors of the cluster (fipw1, mdw1, genw1...).
	Name string `yaml:"name"`
	// Type is the ECX monitor type the API reports, such as "fipw", "mdw" or "genw".
	Type string `yaml:"type"`
	// Timing is ECX's monitor timing: TimingActive (monitors only where the group is Online) or
	// TimingAlways (monitors on every live server of the cluster). Empty means TimingActive for
	// fipw and TimingAlways for every other type, ECX's defaults.
	Timing string `yaml:"timing"`
}

// Monitor timings of MonitorConfig.Timing.
const (
	// TimingActive monitors only on the server where the monitor's group is Online; the other
	// servers report the monitor "Offline" (as ECX reports fipw on the standby).
	TimingActive = "active"
	// TimingAlways monitors on every live server, whether the group runs or not (as mdw and userw).
	TimingAlways = "always"
)

// clusterMonitors are the names of the monitors every simulated cluster has besides its groups'
// monitors: a user-mode monitor and an IP monitor, on every server.
var clusterMonitors = []MonitorConfig{{Name: "userw", Type: "userw", Timing: TimingAlways}, {Name: "ipw1", Type: "ipw", Timing: TimingAlways}}

// fixedTiming is the monitor timing ECX does not let a configuration change, per monitor type.
var fixedTiming = map[string]string{"fipw": TimingActive, "mdw": TimingAlways}

// monitorTarget is the resource type a monitor type watches: such a monitor needs a resource of
// that type in its group (a floating IP monitor watches a floating IP, a mirror disk monitor a
// mirror disk).
var monitorTarget = map[string]string{"fipw": "fip", "mdw": "md"}

// defaultResources are the resources of a group whose configuration names none: "<g>-fip" and
// "<g>-exec", the simulator's names from before they were configurable.
func defaultResources(group string) []ResourceConfig {
	return []ResourceConfig{{Name: group + "-fip", Type: "fip"}, {Name: group + "-exec", Type: "exec"}}
}

// defaultMonitors are the monitors of a group whose configuration names none: "<g>-fipw".
func defaultMonitors(group string) []MonitorConfig {
	return []MonitorConfig{{Name: group + "-fipw", Type: "fipw", Timing: TimingActive}}
}

// withNameDefaults returns g with its resource and monitor lists filled in (the defaults when
// empty) and copied, and every monitor timing resolved. The Config keeps the lists as written;
// validation and the model use these.
func (g GroupConfig) withNameDefaults() GroupConfig {
	if len(g.Resources) == 0 {
		g.Resources = defaultResources(g.Name)
	} else {
		g.Resources = append([]ResourceConfig(nil), g.Resources...)
	}
	if len(g.Monitors) == 0 {
		g.Monitors = defaultMonitors(g.Name)
	} else {
		g.Monitors = append([]MonitorConfig(nil), g.Monitors...)
	}
	for i, m := range g.Monitors {
		if m.Timing != "" {
			continue
		}
		if t, ok := fixedTiming[m.Type]; ok {
			g.Monitors[i].Timing = t
		} else {
			g.Monitors[i].Timing = TimingAlways
		}
	}
	return g
}

// validateObjectNames checks the resources and monitors of a cluster's groups: valid names and
// types, names unique in the cluster, known timings that ECX allows for the type, and the
// resource a fipw or mdw monitor watches.
func validateObjectNames(where string, groups []GroupConfig) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(where+": "+format, args...))
	}
	resOwner := map[string]string{} // resource name -> group
	monOwner := map[string]string{} // monitor name -> group ("" for the cluster's own)
	for _, m := range clusterMonitors {
		monOwner[m.Name] = ""
	}
	for _, g := range groups {
		g = g.withNameDefaults()
		types := map[string]bool{}
		for _, r := range g.Resources {
			if err := checkObjectName(r.Name); err != nil {
				add("group %q: resource name %w", g.Name, err)
			} else if owner, dup := resOwner[r.Name]; dup {
				add("group %q: resource name %q is also used by group %q: resource names are unique in a cluster (fip1, fip2...)", g.Name, r.Name, owner)
			}
			resOwner[r.Name] = g.Name
			if err := checkObjectType(r.Type); err != nil {
				add("group %q: resource %q: type %w", g.Name, r.Name, err)
			}
			types[r.Type] = true
		}
		for _, m := range g.Monitors {
			if err := checkObjectName(m.Name); err != nil {
				add("group %q: monitor name %w", g.Name, err)
			} else if owner, dup := monOwner[m.Name]; dup {
				if owner == "" {
					add("group %q: monitor name %q is taken by the monitor every simulated cluster has; choose another name", g.Name, m.Name)
				} else {
					add("group %q: monitor name %q is also used by group %q: monitor names are unique in a cluster (fipw1, fipw2...)", g.Name, m.Name, owner)
				}
			}
			monOwner[m.Name] = g.Name
			if err := checkObjectType(m.Type); err != nil {
				add("group %q: monitor %q: type %w", g.Name, m.Name, err)
			}
			switch fixed, ok := fixedTiming[m.Type]; {
			case m.Timing != TimingActive && m.Timing != TimingAlways:
				add("group %q: monitor %q: timing %q is unknown: use %q or %q", g.Name, m.Name, m.Timing, TimingActive, TimingAlways)
			case ok && m.Timing != fixed:
				add("group %q: monitor %q: ECX always runs %s monitors with timing %q, not %q", g.Name, m.Name, m.Type, fixed, m.Timing)
			}
			if need, ok := monitorTarget[m.Type]; ok && !types[need] {
				add("group %q: monitor %q (%s) watches a %s resource, and the group has none: add one to its resources", g.Name, m.Name, m.Type, need)
			}
		}
	}
	return errs
}

// checkObjectName accepts the names the simulator can serve as one path segment of
// /api/v1/resources/{name}: letters, digits, '-', '_' and '.', not "." or "..".
func checkObjectName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("is empty")
	case name == "." || name == "..":
		return fmt.Errorf("%q is not a name", name)
	case strings.IndexFunc(name, func(r rune) bool { return !nameRune(r) }) >= 0:
		return fmt.Errorf("%q has characters other than letters, digits, '-', '_' and '.'", name)
	}
	return nil
}

// checkObjectType accepts ECX type names: lower-case letters and digits, such as "fip" or "mdw".
func checkObjectType(typ string) error {
	if typ == "" {
		return fmt.Errorf("is empty (ECX types are fip, exec, md, fipw, mdw, genw...)")
	}
	if strings.IndexFunc(typ, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') }) >= 0 {
		return fmt.Errorf("%q is not an ECX type name: lower-case letters and digits, such as fip or mdw", typ)
	}
	return nil
}

func nameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

// addGroupObjects creates the resources and monitors of g, in configuration order, from its
// configuration (or the default names). An active monitor follows g; an always monitor runs on every
// live server, like the cluster's own monitors.
func (c *simCluster) addGroupObjects(g *group) {
	gc := g.cfg.withNameDefaults()
	for _, rc := range gc.Resources {
		r := &resource{name: rc.Name, typ: rc.Type, g: g}
		g.resources = append(g.resources, r)
		c.resources = append(c.resources, r)
		c.resByName[r.name] = r
	}
	for _, mc := range gc.Monitors {
		m := &monitor{name: mc.Name, typ: mc.Type}
		if mc.Timing == TimingActive {
			m.g = g
		}
		c.addMonitor(m)
	}
}
