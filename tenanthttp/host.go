package tenanthttp

import "strings"

// subdomain returns the one label of hostport under base ("" for base
// itself), or false for a host that is not base or one label under it:
// other domains, IP addresses, IPv6 literals, deeper names, bad ports or
// characters. hostport is r.Host: the client's Host header, which only the
// base-domain check makes usable.
func subdomain(hostport, base string) (string, bool) {
	host, ok := stripPort(hostport)
	if !ok {
		return "", false
	}
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 { // before ToLower, which folds U+212A (Kelvin) to 'k'
			return "", false
		}
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == base {
		return "", true
	}
	label, ok := strings.CutSuffix(host, "."+base)
	if !ok || !validLabel(label) {
		return "", false
	}
	return label, true
}

// stripPort removes a :port. An IPv6 literal ([::1], [::1]:80, or bare
// with colons) is never a name under a domain, so it is refused here.
func stripPort(hostport string) (string, bool) {
	if hostport == "" || strings.HasPrefix(hostport, "[") {
		return "", false
	}
	host, port, hasPort := strings.Cut(hostport, ":")
	if hasPort {
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return "", false // also a bare IPv6 address: its "port" has colons
		}
	}
	return host, host != ""
}

// validLabel reports whether s is one DNS label: 1 to 63 of [a-z0-9-], not
// starting or ending with '-'.
func validLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '-') {
			return false
		}
	}
	return true
}

// validHostName reports whether s is a dot-separated list of labels.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if !validLabel(label) {
			return false
		}
	}
	return true
}
