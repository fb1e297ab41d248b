//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// execInPod runs cmd in a pod's container through the apiserver, as
// `kubectl exec` does since Kubernetes 1.31: a WebSocket on the pod's exec
// subresource speaking the v5.channel.k8s.io protocol (one byte of channel,
// then data: 1 stdout, 2 stderr, 3 the final Status), which the apiserver
// carries to the kubelet. Written here on the standard library because the
// runner's client-go has no WebSocket transport without new modules.
func execInPod(cfg *rest.Config, ns, pod, container string, cmd []string) (stdout, stderr string, err error) {
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return "", "", err
	}
	if tlsCfg == nil {
		return "", "", fmt.Errorf("the kubeconfig has no TLS settings")
	}
	tlsCfg = tlsCfg.Clone()
	tlsCfg.NextProtos = []string{"http/1.1"} // an upgrade needs HTTP/1.1
	host, err := url.Parse(cfg.Host)
	if err != nil {
		return "", "", err
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", host.Host, tlsCfg)
	if err != nil {
		return "", "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))

	q := url.Values{"container": {container}, "stdout": {"true"}, "stderr": {"true"}, "command": cmd}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req, err := http.NewRequest(http.MethodGet, (&url.URL{
		Scheme: "https", Host: host.Host,
		Path:     fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/exec", ns, pod),
		RawQuery: q.Encode(),
	}).String(), nil)
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(key))
	req.Header.Set("Sec-WebSocket-Protocol", "v5.channel.k8s.io")
	if err := req.Write(conn); err != nil {
		return "", "", err
	}
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, req)
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", "", fmt.Errorf("exec: %s: %s", resp.Status, body)
	}
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "v5.channel.k8s.io" {
		return "", "", fmt.Errorf("exec: the server chose protocol %q", p)
	}

	var out, errOut bytes.Buffer
	var status *metav1.Status
	for {
		op, msg, err := readMessage(r)
		if err == io.EOF || op == 8 { // EOF or a close frame: the command is over
			break
		}
		if err != nil {
			return out.String(), errOut.String(), err
		}
		if op != 2 || len(msg) == 0 { // only binary messages carry channels
			continue
		}
		switch msg[0] {
		case 1:
			out.Write(msg[1:])
		case 2:
			errOut.Write(msg[1:])
		case 3:
			status = &metav1.Status{}
			if err := json.Unmarshal(msg[1:], status); err != nil {
				return out.String(), errOut.String(), fmt.Errorf("exec status %q: %w", msg[1:], err)
			}
		}
	}
	if status == nil {
		return out.String(), errOut.String(), fmt.Errorf("exec: the stream ended without a status")
	}
	if status.Status != metav1.StatusSuccess {
		return out.String(), errOut.String(), fmt.Errorf("exec: %s: %s", status.Reason, status.Message)
	}
	return out.String(), errOut.String(), nil
}

// readMessage reads one WebSocket message from the server (unmasked
// frames, continuations joined) and returns its opcode and payload.
func readMessage(r *bufio.Reader) (byte, []byte, error) {
	var msg []byte
	var opcode byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return 0, nil, err
		}
		fin, op := h[0]&0x80 != 0, h[0]&0x0f
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return 0, nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return 0, nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if h[1]&0x80 != 0 {
			return 0, nil, fmt.Errorf("websocket: the server masked a frame")
		}
		if n > 1<<20 {
			return 0, nil, fmt.Errorf("websocket: a %d-byte frame", n)
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return 0, nil, err
		}
		if op >= 8 { // control frames stand alone, also between fragments
			if op == 8 {
				return op, payload, nil
			}
			continue // ping, pong: nothing to answer for a short command
		}
		if op != 0 {
			opcode = op
		}
		msg = append(msg, payload...)
		if fin {
			return opcode, msg, nil
		}
	}
}

// execLine is how a test step shows an exec's output.
func execLine(stdout, stderr string) string {
	return strings.TrimSpace(stdout + stderr)
}
