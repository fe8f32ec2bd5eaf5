// Package netio gives tasks of a coop scheduler blocking-style sockets that
// run with event-loop economy:
//
//	n, err := conn.Read(buf) // parks the task, not the thread
//
// A *Conn is a real net.Conn, so crypto/tls, bufio, net/http's pieces and
// every io helper work on it unchanged. A *Listener is a net.Listener.
//
// # How it runs
//
// Every socket is non-blocking and registered once, edge-triggered, with
// its scheduler's poller (sched.FD). A Read from a task of that scheduler
// tries the read system call only when the descriptor is known readable;
// otherwise the task parks until the next edge, and the scheduler runs
// other tasks. The calls that cannot block — read, write, accept4 and
// friends on non-blocking sockets — are raw system calls, without the
// runtime's syscall bookkeeping (about 35 ns a call, and a chance for the
// runtime to take the processor from the scheduler's locked thread); only
// the scheduler's blocking epoll_wait goes through the runtime.
//
// After a read returns less than asked, the socket's receive queue was
// empty at that moment, so the next Read waits for the next edge instead of
// issuing the read that would return EAGAIN. A request-response session
// thus costs exactly one read and one write per request, plus its share of
// one epoll_wait.
//
// # Concurrency
//
// A Conn is safe for concurrent use by multiple goroutines, as net.Conn
// promises. From a task of its scheduler an operation that would block
// parks the task; from any other goroutine (or a task of another
// scheduler) the operation is handed to the scheduler (sched.Scheduler.Do),
// which blocks only the caller, so the scheduler keeps running. That path
// costs a cross-thread hand-off per call and is meant for integration, not
// for hot loops. Close from anywhere wakes blocked readers and writers with
// an error matching net.ErrClosed.
//
// # Errors
//
// Errors are layered as in the standard library: a *net.OpError naming the
// operation and addresses, wrapping an *os.SyscallError, wrapping the
// errno; deadlines match os.ErrDeadlineExceeded (and report Timeout()),
// closed connections match net.ErrClosed, and end of stream is io.EOF.
//
// # Beyond streams
//
// io.Copy between a file and a Conn, or between two Conns, is zero-copy on
// Linux (ReadFrom and WriteTo use sendfile and splice); WriteBuffers sends
// net.Buffers with one vectored write; SyscallConn gives raw access.
// ListenPacket serves UDP (a net.PacketConn). FileConn, FileListener and
// AdoptConn/AdoptListener take over inherited or activated sockets.
//
// # Servers
//
// Server serves a Listener with a handler per connection, panic isolation,
// accept back-off on EMFILE, connection limits, timeouts and graceful
// shutdown. In ready mode (Server.Ready) an idle connection holds no task
// and no stack: the handler runs in a pooled task only when the connection
// becomes readable, and may then block as it likes. Behind a load
// balancer, Server.Drain keeps serving for a delay while Server.Draining
// reports true (for health checks to fail and keep-alive sessions to
// close), then shuts down gracefully; Server.ProxyProtocol reads the
// PROXY protocol header (versions 1 and 2) that trusted balancers send,
// so that RemoteAddr is the client's.
package netio
