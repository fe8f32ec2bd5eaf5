package netio

// ZeroCopied returns the bytes moved so far by sendfile and by splice, so
// that tests can tell the zero-copy paths ran. (Its own file, not
// export_test.go, to stay clear of the other tests' exports.)
func ZeroCopied() (sendfile, splice int64) {
	return zeroCopied.sendfile.Load(), zeroCopied.splice.Load()
}
