package netio

// ReaderHeld returns the capacity of the buffer r holds now (0: none), so
// that tests can tell when a Reader borrows and gives back. (Its own
// file, to stay clear of the other tests' exports.)
func ReaderHeld(r *Reader) int { return cap(r.buf) }
