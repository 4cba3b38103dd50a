// Command relaychain measures what each process in the path of a message costs on this
// machine, without NATS or XMPP: a message of a few bytes leaves a sender, passes through
// K relay processes (each a copy of this program that copies one TCP connection to the
// next with io.Copy) and comes back to the sender's own listener, one message at a time,
// paced like the latency runs of scripts/bench.sh. It compares K=1, as a message within
// a switch node has (client -> node -> client), with K=3, as a crossing has (client ->
// node a -> nats-server -> node b -> client), and by default K=2, as a crossing would
// have if each node ran its own NATS server (client -> node a -> node b -> client), in
// alternating rounds, and prints the one-way p50 and p90 of each and the ratio of the
// p50s to K=1's: the part of a crossing's cost that comes from the processes on its way
// alone, with relays that do nothing.
//
// Usage:
//
//	go run ./scripts/relaychain [-n 2000] [-gap 500us] [-rounds 3] [-size 80] [-relays 1,2,3]
//
// Everything listens on 127.0.0.1; the relays are this program's children, killed by
// their PIDs at the end.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	relayTo := flag.String("relay-to", "", "run as a relay: listen, print the address, copy the first connection to this address")
	n := flag.Int("n", 2000, "messages per round")
	gap := flag.Duration("gap", 500*time.Microsecond, "pause between two messages")
	rounds := flag.Int("rounds", 3, "rounds of each chain, alternating")
	size := flag.Int("size", 80, "bytes per message")
	chains := flag.String("relays", "1,2,3", "the chain lengths to compare, the first one the base of the ratios")
	flag.Parse()
	if *relayTo != "" {
		if err := relay(*relayTo); err != nil {
			fmt.Fprintln(os.Stderr, "relaychain relay:", err)
			os.Exit(1)
		}
		return
	}
	var ks []int
	for _, f := range strings.Split(*chains, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 1 || k > 16 {
			fmt.Fprintf(os.Stderr, "relaychain: -relays %q: give chain lengths of 1 to 16, separated by commas\n", *chains)
			os.Exit(2)
		}
		ks = append(ks, k)
	}
	if *n < 1 || *size < 1 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "relaychain: -n, -size and -rounds must be at least 1")
		os.Exit(2)
	}
	fmt.Printf("%d messages of %d bytes per round, %v apart; one way, µs\n", *n, *size, *gap)
	p50 := map[int][]time.Duration{}
	for r := range *rounds {
		for _, k := range ks {
			d, err := measure(k, *n, *size, *gap)
			if err != nil {
				fmt.Fprintln(os.Stderr, "relaychain:", err)
				os.Exit(1)
			}
			slices.Sort(d)
			fmt.Printf("round %d, %d relay(s): p50 %d p90 %d\n", r+1, k, d[len(d)/2].Microseconds(), d[len(d)*9/10].Microseconds())
			p50[k] = append(p50[k], d[len(d)/2])
		}
	}
	for _, k := range ks[1:] {
		for i := range p50[k] {
			fmt.Printf("round %d: %d relays / %d, p50: %.2fx\n", i+1, k, ks[0], float64(p50[k][i])/float64(p50[ks[0]][i]))
		}
	}
}

// relay listens on a free loopback port, prints its address, and copies the first
// connection it accepts to next until either ends.
func relay(next string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	in, err := ln.Accept()
	if err != nil {
		return err
	}
	ln.Close()
	out, err := net.Dial("tcp", next)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return err
}

// measure sends n messages through a chain of k relays, one at a time, and returns the
// one-way time of each.
func measure(k, n, size int, gap time.Duration) ([]time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// Start from the end of the chain: each relay copies to the one started before it.
	next := ln.Addr().String()
	var relays []*exec.Cmd
	defer func() {
		for _, c := range relays {
			c.Process.Kill()
			c.Wait()
		}
	}()
	for range k {
		c := exec.Command(self, "-relay-to", next)
		c.Stderr = os.Stderr
		out, err := c.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := c.Start(); err != nil {
			return nil, err
		}
		relays = append(relays, c)
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("a relay did not say its address: %w", err)
		}
		next = strings.TrimSpace(line)
	}
	send, err := net.Dial("tcp", next)
	if err != nil {
		return nil, err
	}
	defer send.Close()
	msg := make([]byte, size)
	buf := make([]byte, size)
	// The chain connects hop by hop as the first bytes arrive: one message first, not
	// counted.
	if _, err := send.Write(msg); err != nil {
		return nil, err
	}
	recv, err := ln.Accept()
	if err != nil {
		return nil, err
	}
	defer recv.Close()
	if _, err := io.ReadFull(recv, buf); err != nil {
		return nil, err
	}
	d := make([]time.Duration, 0, n)
	for range n {
		time.Sleep(gap)
		t0 := time.Now()
		if _, err := send.Write(msg); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(recv, buf); err != nil {
			return nil, err
		}
		d = append(d, time.Since(t0))
	}
	return d, nil
}
