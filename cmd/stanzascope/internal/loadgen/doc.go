// Package loadgen is the load generator behind 'stanzascope bench': it registers and logs
// in many XMPP clients, pairs them, sends stamped chat messages between each pair at a
// given total rate (or as fast as the server takes them) and accounts for every message
// sent as delivered, errored or lost, with end-to-end latency percentiles, login rate and
// the generator's own CPU use.
//
// The client side is written directly on net.Conn and inspect.Reader: messages are built
// by appending bytes and read by scanning the raw stanza for the bench stamp, so a
// receive costs no allocation and the generator is not the bottleneck it measures. Only
// the one-off login steps parse stanzas into trees; SASL uses mellium.im/sasl.
package loadgen
