package capture

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// maxBPFPorts bounds the ports compared in the kernel filter (each costs two jumps).
const maxBPFPorts = 48

// bpfJump is a conditional jump to labels ("" is the next instruction).
type bpfJump struct {
	cond    bpf.JumpTest
	val     uint32
	onTrue  string
	onFalse string
}

type bpfLabel string

// portFilter compiles a classic BPF program for Ethernet frames that accepts TCP over
// IPv4 (not fragments) or IPv6 (TCP right after the fixed header) with either port in
// ports. The kernel then copies only XMPP traffic to us, which matters on a busy
// loopback: the socket's buffer is not filled with traffic we would drop.
func portFilter(ports []uint16) ([]bpf.RawInstruction, error) {
	if len(ports) == 0 || len(ports) > maxBPFPorts {
		return nil, fmt.Errorf("cannot filter on %d ports", len(ports))
	}
	cmp := func(prog []any) []any {
		for _, p := range ports {
			prog = append(prog, bpfJump{cond: bpf.JumpEqual, val: uint32(p), onTrue: "accept"})
		}
		return prog
	}
	prog := []any{
		bpf.LoadAbsolute{Off: 12, Size: 2}, // EtherType
		bpfJump{cond: bpf.JumpEqual, val: 0x0800, onTrue: "v4"},
		bpfJump{cond: bpf.JumpEqual, val: 0x86DD, onTrue: "v6", onFalse: "reject"},
		bpfLabel("v4"),
		bpf.LoadAbsolute{Off: 23, Size: 1}, // protocol
		bpfJump{cond: bpf.JumpEqual, val: 6, onFalse: "reject"},
		bpf.LoadAbsolute{Off: 20, Size: 2}, // flags and fragment offset
		bpfJump{cond: bpf.JumpBitsSet, val: 0x3fff, onTrue: "reject"},
		bpf.LoadMemShift{Off: 14},          // X = IP header length
		bpf.LoadIndirect{Off: 14, Size: 2}, // source port
	}
	prog = cmp(prog)
	prog = append(prog, bpf.LoadIndirect{Off: 16, Size: 2}) // destination port
	prog = cmp(prog)
	prog = append(prog, bpf.RetConstant{Val: 0},
		bpfLabel("v6"),
		bpf.LoadAbsolute{Off: 20, Size: 1}, // next header
		bpfJump{cond: bpf.JumpEqual, val: 6, onFalse: "reject"},
		bpf.LoadAbsolute{Off: 54, Size: 2},
	)
	prog = cmp(prog)
	prog = append(prog, bpf.LoadAbsolute{Off: 56, Size: 2})
	prog = cmp(prog)
	prog = append(prog,
		bpfLabel("reject"), bpf.RetConstant{Val: 0},
		bpfLabel("accept"), bpf.RetConstant{Val: maxFrame})
	ins, err := resolve(prog)
	if err != nil {
		return nil, err
	}
	return bpf.Assemble(ins)
}

// resolve turns labels into relative jumps.
func resolve(prog []any) ([]bpf.Instruction, error) {
	at := map[string]int{}
	n := 0
	for _, p := range prog {
		if l, ok := p.(bpfLabel); ok {
			at[string(l)] = n
		} else {
			n++
		}
	}
	var out []bpf.Instruction
	for _, p := range prog {
		switch p := p.(type) {
		case bpfLabel:
		case bpfJump:
			skip := func(label string) (uint8, error) {
				if label == "" {
					return 0, nil
				}
				d := at[label] - len(out) - 1
				if d < 0 || d > 255 {
					return 0, fmt.Errorf("bpf: jump to %s out of range", label)
				}
				return uint8(d), nil
			}
			t, err := skip(p.onTrue)
			if err != nil {
				return nil, err
			}
			f, err := skip(p.onFalse)
			if err != nil {
				return nil, err
			}
			out = append(out, bpf.JumpIf{Cond: p.cond, Val: p.val, SkipTrue: t, SkipFalse: f})
		case bpf.Instruction:
			out = append(out, p)
		}
	}
	return out, nil
}
