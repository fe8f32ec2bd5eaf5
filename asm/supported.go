package asm

// Supported reports whether raw contexts work on this platform: Switch is
// implemented for the architecture (amd64, arm64) and NewStack for the
// operating system (any unix). Where Supported is false, NewStack,
// Regs.Prepare and NewPingPong return errors wrapping errors.ErrUnsupported;
// G, Ticks and TicksPerSecond work everywhere.
const Supported = switchSupported && stacksSupported
