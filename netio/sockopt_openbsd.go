package netio

// OpenBSD has no per-socket keep-alive idle time (package net ignores the
// period there too); SetKeepAlivePeriod is then a no-op.
const tcpKeepIdle = -1
