package inspect

import "errors"

// Tee returns a sink that writes each record to every sink in order (nil sinks are
// skipped). Every sink gets the record even when an earlier one fails; the errors are
// joined.
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
