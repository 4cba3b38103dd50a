package inspect

import "errors"

// BatchSink is a Sink that also takes the records of one batch at once (the records of
// one write toward a peer, which a producer has together): what a record costs it
// besides its own work (a lock, the wake-up of a goroutine, a call through an interface)
// is then paid once per batch. WriteBatch(rs) is Write of rs[0], rs[1], ... in that
// order, except that it goes on past a failed record and returns the errors joined: the
// records belong to the sink afterwards, as with Write. The slice stays the caller's, but
// WriteBatch may replace its elements while it runs (the redactor puts its redacted
// copies there), so the caller must not read them after the call, only reuse the slice.
// A BatchSink keeps no reference to the slice after the call.
type BatchSink interface {
	Sink
	WriteBatch(rs []*Record) error
}

// WriteBatch writes rs to s: in one call when s is a BatchSink, else record by record
// (every record is written even when an earlier one fails; the errors are joined).
func WriteBatch(s Sink, rs []*Record) error {
	if b, ok := s.(BatchSink); ok {
		return b.WriteBatch(rs)
	}
	var err error
	for _, r := range rs {
		if e := s.Write(r); e != nil {
			err = errors.Join(err, e)
		}
	}
	return err
}

// Tee returns a sink that writes each record to every sink in order (nil sinks are
// skipped). Every sink gets the record even when an earlier one fails; the errors are
// joined. It is a BatchSink: a batch goes to each sink in turn, whole (to a BatchSink in
// one call), so every sink sees the records in the same order.
func Tee(sinks ...Sink) Sink {
	var live []Sink
	for _, s := range sinks {
		if s != nil {
			live = append(live, s)
		}
	}
	if len(live) == 1 {
		return live[0]
	}
	return tee(live)
}

type tee []Sink

func (t tee) Write(r *Record) error {
	var errs []error
	for _, s := range t {
		if err := s.Write(r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (t tee) WriteBatch(rs []*Record) error {
	var err error
	for _, s := range t {
		if e := WriteBatch(s, rs); e != nil {
			err = errors.Join(err, e)
		}
	}
	return err
}
