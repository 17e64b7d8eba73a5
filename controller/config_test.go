package controller

import "github.com/cset-project/cset/config"

// defaultConfig is the controller section of the production defaults: the controller keeps no
// defaults of its own.
func defaultConfig() Config { return config.Default().Controller }

// configWith is defaultConfig changed by mut.
func configWith(mut func(*Config)) Config {
	c := defaultConfig()
	mut(&c)
	return c
}
