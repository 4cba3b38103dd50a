// Package replay is the engine of 'stanzascope replay': it takes the client side of one
// connection recorded in a stanzascope JSON log, plays it against a server (the
// embedded switch or any other) and reports, stanza by stanza, where the server's
// answers differ from the recorded ones.
//
// A replay logs in with credentials given to it (the log's are redacted), through the
// login steps of the load generator's client (loadgen.Stream), and replaces the
// recorded authentication with that login. What the server assigns (the bound full JID,
// the stream id, the ids of its own requests) is rewritten consistently in the stanzas
// sent after it. Answers are compared by the structure that matters (element, type,
// error condition, the payload of iq answers, how many of each), never by bytes: ids,
// time stamps and the order of unrelated stanzas differ from server to server.
//
// The parts are separate so that each can be tested without a network: a Script is
// extracted from a log (script.go), a rewriter turns a recorded client stanza into the one
// to send (rewrite.go), a tracker matches what the server sends against what was recorded
// (match.go), and Run drives a connection with them (run.go).
package replay
