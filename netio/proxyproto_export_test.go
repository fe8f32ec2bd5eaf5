package netio

// ParseProxyHeader exports the PROXY header parser to the tests and the
// fuzzer. (Its own file, not export_test.go, to stay clear of the other
// tests' exports.)
func ParseProxyHeader(b []byte) (h *ProxyHeader, n, need int, err error) {
	return parseProxyHeader(b)
}
