package flags

import (
	"bytes"
	"context"
	"os"
	"time"
)

// LoadFile reads the flag file at path and applies it; on error the rules
// in place stay.
func (f *Flags) LoadFile(path string) error {
	c, err := ParseFile(path)
	if err != nil {
		return err
	}
	return f.Set(c)
}

// Watch applies the flag file at path now and whenever its content changes,
// checking every interval (a second if 0), until ctx is done. A file that
// cannot be read or does not validate is reported to onError (which may be
// nil) and changes nothing: the last good rules stay. A content that does
// not parse is judged twice, a tick apart, so that a file read while it is
// being written is not reported. Call LoadFile first to fail fast on a bad
// file at startup.
func (f *Flags) Watch(ctx context.Context, path string, interval time.Duration, onError func(error)) {
	if interval <= 0 {
		interval = time.Second
	}
	var last, bad []byte
	var lastErr string // a read error is reported when it changes
	t := time.NewTicker(interval)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			if onError != nil && err.Error() != lastErr {
				onError(err)
			}
			lastErr = err.Error()
			continue
		}
		lastErr = ""
		if last != nil && bytes.Equal(data, last) {
			continue
		}
		c, err := Parse(data)
		if err == nil {
			err = f.Set(c)
		}
		if err != nil && !bytes.Equal(data, bad) {
			// Maybe read in the middle of a write: judged on the next
			// read, reported if it is the same.
			bad = data
			continue
		}
		last, bad = data, nil
		if err != nil && onError != nil {
			onError(err)
		}
	}
}
