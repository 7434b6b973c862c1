package nodeipc

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"

	"naught/master/listeners"
)

// clusterReply is the queryServer answer, fields in Node v20's order (§2.4).
type clusterReply struct {
	Cmd   string          `json:"cmd"`
	Errno int             `json:"errno"`
	Key   string          `json:"key"`
	Ack   json.RawMessage `json:"ack,omitempty"`
	Data  json.RawMessage `json:"data"`
	Seq   int64           `json:"seq"`
}

// handleEnvelope wraps a message that carries an fd (§1.5).
type handleEnvelope struct {
	Cmd  string `json:"cmd"`
	Type string `json:"type"`
	Msg  any    `json:"msg"`
}

func (c *Channel) handleCluster(m map[string]json.RawMessage) {
	if _, ok := m["ack"]; ok {
		// Replies route by ack; naught never asks a worker anything.
		c.logf("nodeipc: unsolicited cluster reply ignored (ack %s)", m["ack"])
		return
	}
	var act string
	if err := json.Unmarshal(m["act"], &act); err != nil {
		c.logf("nodeipc: cluster message without a string act ignored")
		return
	}
	switch act {
	case "queryServer":
		c.queryServer(m)
	case "exitedAfterDisconnect":
		// The worker disconnects only after this ack (P11).
		c.exitedAfterDisconnect.Store(true)
		err := c.enqueueCluster(func(seq int64) any {
			return struct {
				Cmd string          `json:"cmd"`
				Ack json.RawMessage `json:"ack,omitempty"`
				Seq int64           `json:"seq"`
			}{"NODE_CLUSTER", m["seq"], seq}
		}, -1)
		if err != nil {
			c.logf("nodeipc: ack exitedAfterDisconnect: %v", err)
		}
	case "close", "online", "listening":
		// Informational. naught keeps shared sockets open for the
		// registry's life (P15), so a worker's close changes nothing.
	default:
		c.logf("nodeipc: cluster act %q ignored", act)
	}
}

// queryServer answers a worker's listen (§2.4): the shared fd in a
// NODE_HANDLE envelope, or a plain line with a negative errno.
func (c *Channel) queryServer(m map[string]json.RawMessage) {
	c.clusterMu.Lock()
	defer c.clusterMu.Unlock()
	key := nodeKey(m)
	if c.disconnected {
		c.logf("nodeipc: queryServer %s after disconnect ignored", key)
		return
	}
	data := m["data"]
	fd, echo := -1, []byte(data)
	q, err := parseQuery(m)
	if err == nil {
		if c.opts.Listeners == nil {
			err = fmt.Errorf("nodeipc: channel has no listener registry: %w", syscall.EINVAL)
		} else {
			fd, echo, err = c.opts.Listeners.Acquire(q, data)
		}
	}
	reply := clusterReply{Cmd: "NODE_CLUSTER", Key: key, Ack: m["seq"], Data: echo}
	if err != nil {
		reply.Errno = -int(errnoOf(err)) // negative, or the worker crashes (P7)
		c.logf("nodeipc: queryServer %s: %v", key, err)
		if err := c.enqueueCluster(func(seq int64) any { reply.Seq = seq; return reply }, -1); err != nil {
			c.logf("nodeipc: reply queryServer %s: %v", key, err)
		}
		return
	}
	err = c.enqueueCluster(func(seq int64) any {
		reply.Seq = seq
		return handleEnvelope{Cmd: "NODE_HANDLE", Type: "net.Native", Msg: reply}
	}, fd)
	if err != nil {
		c.logf("nodeipc: reply queryServer %s: %v", key, err)
	}
}

// errnoOf extracts the errno to report; EINVAL when err carries none.
func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		return errno
	}
	return syscall.EINVAL
}

// nodeKey is Node v20's handle key `${address}:${port}:${addressType}:${fd}:${index}`.
func nodeKey(m map[string]json.RawMessage) string {
	return strings.Join([]string{
		jsString(m, "address"), jsString(m, "port"), jsString(m, "addressType"),
		jsString(m, "fd"), jsString(m, "index"),
	}, ":")
}

// parseQuery turns queryServer fields into a registry query; malformed
// fields are EINVAL.
func parseQuery(m map[string]json.RawMessage) (listeners.Query, error) {
	var q listeners.Query
	if raw, ok := m["fd"]; ok && !isNull(raw) {
		q.HasFD = true
		return q, nil // the registry refuses it with EINVAL
	}
	if raw, ok := m["address"]; ok && !isNull(raw) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return q, fmt.Errorf("nodeipc: queryServer address %s: %w", raw, syscall.EINVAL)
		}
		q.Address = &s
	}
	var err error
	if q.Port, err = intField(m, "port", false); err != nil {
		return q, err
	}
	if q.AddressType, err = intField(m, "addressType", false); err != nil {
		return q, err // includes dgram's "udp4"/"udp6": not supported
	}
	if q.Flags, err = intField(m, "flags", true); err != nil {
		return q, err
	}
	if q.Index, err = intField(m, "index", true); err != nil {
		return q, err
	}
	return q, nil
}

func intField(m map[string]json.RawMessage, name string, optional bool) (int, error) {
	raw, ok := m[name]
	if !ok || isNull(raw) {
		if optional {
			return 0, nil
		}
		return 0, fmt.Errorf("nodeipc: queryServer without %s: %w", name, syscall.EINVAL)
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
		return 0, fmt.Errorf("nodeipc: queryServer %s %s: %w", name, raw, syscall.EINVAL)
	}
	return int(f), nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// jsString is String(m[name]) in JavaScript: "undefined" when absent.
func jsString(m map[string]json.RawMessage, name string) string {
	raw, ok := m[name]
	if !ok {
		return "undefined"
	}
	return jsValueString(raw)
}

func jsValueString(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "undefined"
	}
	switch raw[0] {
	case 'n':
		return "null"
	case 't':
		return "true"
	case 'f':
		return "false"
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case '{':
		return "[object Object]"
	case '[':
		var elems []json.RawMessage
		if json.Unmarshal(raw, &elems) == nil {
			parts := make([]string, len(elems))
			for i, e := range elems {
				if !isNull(e) { // Array.prototype.join renders null as ""
					parts[i] = jsValueString(e)
				}
			}
			return strings.Join(parts, ",")
		}
	default:
		var f float64
		if json.Unmarshal(raw, &f) == nil {
			return jsNumber(f)
		}
	}
	return string(raw)
}

// jsNumber approximates Number.prototype.toString for finite values.
func jsNumber(f float64) string {
	if f == 0 {
		return "0"
	}
	if a := math.Abs(f); a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // 1e+21, 1.5e-07
	mant, exp, _ := strings.Cut(s, "e")
	sign, digits := exp[:1], strings.TrimLeft(exp[1:], "0")
	return mant + "e" + sign + digits
}
