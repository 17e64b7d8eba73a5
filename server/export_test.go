package server

// MethodRole returns the role the access table asks for method, for tests.
func MethodRole(method string) (string, bool) {
	p, ok := methodPolicy[method]
	return p.role, ok
}
