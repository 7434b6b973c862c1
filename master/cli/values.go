package cli

import (
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// boolValue is a boolean option that takes its value as the next argument,
// as the original's options do (--daemon-mode false).
type boolValue bool

func (b *boolValue) String() string { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) Type() string   { return "true|false" }
func (b *boolValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not true or false", s)
	}
	*b = boolValue(v)
	return nil
}

// countValue is a worker count: a whole number not below min, or "auto"
// (the number of CPUs).
type countValue struct {
	n   int
	min int
}

func (c *countValue) String() string { return strconv.Itoa(c.n) }
func (c *countValue) Type() string   { return "count|auto" }
func (c *countValue) Set(s string) error {
	if s == "auto" {
		c.n = runtime.NumCPU()
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < c.min {
		return fmt.Errorf("%q is not auto or a whole number of at least %d", s, c.min)
	}
	c.n = n
	return nil
}

// timeoutValue is a duration in (fractional) seconds, or "none".
type timeoutValue struct{ d time.Duration }

func (t *timeoutValue) String() string {
	if t.d == 0 {
		return "none"
	}
	return strconv.FormatFloat(t.d.Seconds(), 'f', -1, 64)
}
func (t *timeoutValue) Type() string { return "seconds|none" }
func (t *timeoutValue) Set(s string) error {
	if s == "none" || s == "" {
		t.d = 0
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) || f > 1e9 {
		return fmt.Errorf("%q is not none or a positive number of seconds", s)
	}
	t.d = time.Duration(f * float64(time.Second))
	return nil
}

// seconds is the timeout as the control protocol carries it (nil = none).
func (t *timeoutValue) seconds() *float64 {
	if t.d == 0 {
		return nil
	}
	s := t.d.Seconds()
	return &s
}

// modeValue is an octal file mode.
type modeValue uint32

func (m *modeValue) String() string { return fmt.Sprintf("%04o", uint32(*m)) }
func (m *modeValue) Type() string   { return "octal-mode" }
func (m *modeValue) Set(s string) error {
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0o"), 8, 32)
	if err != nil || v > 0o777 {
		return fmt.Errorf("%q is not an octal permission such as 0660", s)
	}
	*m = modeValue(v)
	return nil
}
