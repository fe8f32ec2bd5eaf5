// Package loadgen is the study's client: one thread, its own raw epoll loop,
// non-blocking sockets, pinned to a CPU of its own, so that it spends as
// little as it can per request and shares no code path with any server
// model.
//
// It drives the echo protocol of package echo in four modes:
//
//   - closed: N connections, one 64-byte request outstanding on each; the
//     next request on a connection leaves as soon as its reply is back.
//     Measures throughput and, with the server's own CPU clock, server CPU
//     time per request.
//   - open: requests leave at a fixed total rate, round-robin over the
//     connections (or once per round in a random order: Config.Order), at
//     send times fixed in advance; latency runs from the
//     scheduled send time, not the actual one, so a slow reply that delays
//     later sends is still charged to them (no coordinated omission). A
//     request due while its connection still waits for a reply is sent
//     anyway (pipelined).
//   - stream: each connection keeps up to echo.StreamWindow bytes in
//     flight, written in echo.StreamChunk writes; counts echoed bytes.
//   - idle: opens N connections, checks one echo on each, and holds them
//     open while the caller measures the server's memory; then checks one
//     more echo on each.
//   - session: opens N connections, checks one echo on each, and then runs
//     the measurements the harness asks for on them, one after another
//     (Client, and the commands of the load generator process): at 10,000
//     connections the set-up costs more than a measurement, so one set-up
//     serves a memory reading, a closed-loop row and an open-loop row.
//
// One loopback source address has only the ephemeral port range's ports
// (about 28,000); past half of them the client spreads its connections
// over 127.0.0.1, 127.0.0.2, ... (Config.PerAddr).
//
// Every byte that comes back is compared with what was sent. Every wait is
// bounded: connection set-up, a stall with requests outstanding, the whole
// run. Each measurement interval records the client's own CPU time as well
// as the server's, so a report can show the client is not the bottleneck
// (or say that it is).
//
// Sockets are closed with SO_LINGER 0 (a reset): the client opens tens of
// thousands of connections per study, and an orderly close would leave each
// in TIME_WAIT holding an ephemeral port for a minute.
package loadgen
