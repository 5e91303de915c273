// Package deploy tests the Debian package as an administrator meets it:
// `make package` builds the .deb, dpkg installs it on this machine, systemd
// accepts the unit, the installed gateway starts from the unit's ExecStart
// line as the unit's user against the lab PBX and becomes ready, and dpkg
// removes and purges it without leaving files behind. Needs root and the
// lab (lab/up.sh; `make test` brings both); it fails, never skips, without.
package deploy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/test/labtest"
)

const (
	pkg      = "hotline-gw"
	unitPath = "/lib/systemd/system/hotline-gw.service"
	confPath = "/etc/hotline-gw/gateway.yaml"
	// version is stamped into the binaries and the package by make package.
	version = "0.0.0~deploytest1"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func installed() bool {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output()
	return err == nil && string(out) == "install ok installed"
}

func TestDebianPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the package test installs with dpkg: run as root (make test does in CI)")
	}
	for _, tool := range []string{"make", "dpkg", "dpkg-deb", "systemd-analyze"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (lab/deps.sh installs it): %v", tool, err)
		}
	}
	labtest.RequireLab(t)
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output(); err == nil && len(out) > 0 &&
		!strings.Contains(string(out), "not-installed") {
		t.Logf("purging %s left by an earlier run (%s)", pkg, out)
		run(t, "dpkg", "--purge", pkg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", pkg).CombinedOutput(); err != nil {
			t.Logf("cleanup: dpkg --purge: %v\n%s", err, out)
		}
	})

	// make package, into a directory of the test's own.
	dist := t.TempDir()
	start := time.Now()
	mk := exec.Command("make", "-C", labtest.RepoRoot(), "package", "DIST="+dist, "VERSION="+version)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make package: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dist, "*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make package made %v in %s, want one .deb", debs, dist)
	}
	deb := debs[0]
	t.Logf("make package: %s in %s", filepath.Base(deb), time.Since(start).Round(time.Second))
	if got := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, "Version")); got != version {
		t.Fatalf("package version %q, want %q", got, version)
	}

	// What the package holds, and what must be gone after removal.
	contents := run(t, "dpkg-deb", "-c", deb)
	var shipped []string // regular files, absolute
	for _, l := range strings.Split(contents, "\n") {
		f := strings.Fields(l)
		if len(f) >= 6 && strings.HasPrefix(f[0], "-") {
			shipped = append(shipped, strings.TrimPrefix(f[len(f)-1], "."))
		}
	}
	for _, want := range []string{"/usr/bin/hotline-gw", "/usr/bin/hotlinectl", "/usr/bin/ticket-sink", unitPath, confPath} {
		if !contains(shipped, want) {
			t.Errorf("package lacks %s; it has %v", want, shipped)
		}
	}
	if conff := run(t, "sh", "-c", "dpkg-deb --ctrl-tarfile "+deb+" | tar -xO ./conffiles"); !strings.Contains(conff, confPath) {
		t.Errorf("%s is not a conffile: %q", confPath, conff)
	}
	// No lab secret is shipped.
	for _, f := range []string{confPath, "/etc/default/hotline-gw"} {
		body := run(t, "sh", "-c", "dpkg-deb --fsys-tarfile "+deb+" | tar -xO ."+f)
		for _, secret := range []string{"hotline-lab", "lab-token", "password: ", "token: "} {
			if strings.Contains(body, secret) {
				t.Errorf("%s in the package holds %q", f, secret)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// A journal left by a gateway once run as root (owned by root, 0600):
	// the installed service's user must still be able to write it.
	if err := os.MkdirAll("/var/lib/hotline-gw/spool", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/var/lib/hotline-gw/spool/counts.journal", nil, 0o600); err != nil {
		t.Fatal(err)
	}

	// dpkg -i: files, the service user, the configuration's permissions.
	t.Log(run(t, "dpkg", "-i", deb))
	if !installed() {
		t.Fatal("dpkg -i succeeded but the package is not installed")
	}
	u, err := user.Lookup("hotline-gw")
	if err != nil {
		t.Fatalf("postinst did not create the hotline-gw user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if st := stat(t, "/etc/hotline-gw"); st.Mode().Perm() != 0o750 || int(st.Sys().(*syscall.Stat_t).Gid) != gid {
		t.Errorf("/etc/hotline-gw: mode %v gid %d, want 0750 group hotline-gw", st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Gid)
	}
	if st := stat(t, confPath); st.Mode().Perm() != 0o640 || int(st.Sys().(*syscall.Stat_t).Gid) != gid {
		t.Errorf("%s: mode %v, want 0640 group hotline-gw", confPath, st.Mode().Perm())
	}
	for _, b := range []string{"hotline-gw", "hotlinectl", "ticket-sink"} {
		out := run(t, "/usr/bin/"+b, "-version")
		if !strings.HasPrefix(out, b+" "+version+" (revision ") {
			t.Errorf("/usr/bin/%s -version = %q, want %s %s (revision ...)", b, out, b, version)
		}
	}

	// The unit: systemd accepts it, and it says what the service needs.
	if out, err := exec.Command("systemd-analyze", "verify", unitPath).CombinedOutput(); err != nil || bytes.Contains(out, []byte("hotline-gw")) {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}
	// The sandbox keeps systemd's exposure score at most 3.0 (0 safest, 10
	// none; --threshold counts tenths).
	if out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--threshold=30", unitPath).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze security %s: exposure over 3: %v\n%s", unitPath, err, out)
	} else if l := strings.TrimSpace(string(out)); strings.Contains(l, "Overall exposure") {
		t.Log(l[strings.LastIndex(l, "\n")+1:])
	}
	unit := unitSettings(t, unitPath)
	for key, want := range map[string]string{
		"Type": "notify", "User": "hotline-gw", "Group": "hotline-gw", "Restart": "on-failure",
		"ExecReload": "/bin/kill -HUP $MAINPID", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
		"WatchdogSec": "30s", "WantedBy": "multi-user.target",
	} {
		if got := unit[key]; got != want {
			t.Errorf("unit %s=%q, want %q", key, got, want)
		}
	}
	for _, after := range []string{"network-online.target", "redis-server.service", "asterisk.service"} {
		if !contains(strings.Fields(unit["After"]), after) {
			t.Errorf("unit After=%q lacks %s", unit["After"], after)
		}
	}
	if _, err := os.Lstat("/etc/systemd/system/multi-user.target.wants/hotline-gw.service"); err != nil {
		t.Errorf("postinst did not enable the unit: %v", err)
	}

	// Start the installed gateway from the unit's ExecStart line, as the
	// unit's user, with the packaged configuration pointed at the lab: its
	// ARI password in a file the service can read and, so that nothing
	// collides with other gateways, free listen ports.
	argv := strings.Fields(unit["ExecStart"])
	if len(argv) != 3 || argv[0] != "/usr/bin/hotline-gw" || argv[1] != "-config" || argv[2] != confPath {
		t.Fatalf("ExecStart=%q, want /usr/bin/hotline-gw -config %s", unit["ExecStart"], confPath)
	}
	dir, err := os.MkdirTemp("", "hotline-deb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	httpAddr, grpcAddr := labtest.FreeAddr(t), labtest.FreeAddr(t)
	conf := string(readFile(t, confPath))
	for old, new := range map[string]string{
		"http: 127.0.0.1:9108":                        "http: " + httpAddr,
		"grpc: 127.0.0.1:50051":                       "grpc: " + grpcAddr,
		"password_file: /etc/hotline-gw/ari-password": "password_file: " + filepath.Join(dir, "ari-password"),
	} {
		if strings.Count(conf, old) != 1 {
			t.Fatalf("%s: %q appears %d times, want once", confPath, old, strings.Count(conf, old))
		}
		conf = strings.Replace(conf, old, new, 1)
	}
	writeFile(t, filepath.Join(dir, "ari-password"), labtest.ARIPass+"\n", gid)
	writeFile(t, filepath.Join(dir, "gateway.yaml"), conf, gid)
	argv[2] = filepath.Join(dir, "gateway.yaml")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _ := get("http://" + httpAddr + "/readyz")
		if code == http.StatusOK {
			break
		}
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("installed gateway exited before ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("installed gateway not ready within 60 s (last /readyz %d)", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("installed gateway ready as user hotline-gw (uid %d) on %s", uid, httpAddr)
	_, metrics := get("http://" + httpAddr + "/metrics")
	if !regexp.MustCompile(`hotline_build_info\{[^}]*version="` + regexp.QuoteMeta(version) + `"[^}]*\} 1`).MatchString(metrics) {
		t.Errorf("/metrics lacks hotline_build_info with version %q", version)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("installed gateway after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("installed gateway did not stop within 60 s of SIGTERM")
	}

	// dpkg -r: nothing left under /usr/bin or /lib/systemd, the unit
	// disabled; the configuration stays until purge.
	t.Log(run(t, "dpkg", "-r", pkg))
	for _, f := range shipped {
		if !strings.HasPrefix(f, "/usr/") && !strings.HasPrefix(f, "/lib/") {
			continue
		}
		if _, err := os.Lstat(f); err == nil {
			t.Errorf("dpkg -r left %s", f)
		}
	}
	if _, err := os.Lstat("/etc/systemd/system/multi-user.target.wants/hotline-gw.service"); err == nil {
		t.Error("dpkg -r left the unit enabled (multi-user.target.wants symlink)")
	}
	if left, _ := filepath.Glob("/lib/systemd/system/hotline-gw*"); len(left) > 0 {
		t.Errorf("dpkg -r left %v", left)
	}
	if _, err := os.Stat(confPath); err != nil {
		t.Errorf("dpkg -r removed the configuration %s (only purge should): %v", confPath, err)
	}
	t.Log(run(t, "dpkg", "--purge", pkg))
	for _, p := range []string{"/etc/hotline-gw", "/etc/default/hotline-gw"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("dpkg --purge left %s", p)
		}
	}
	if installed() {
		t.Error("package still installed after purge")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func stat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, p, body string, gid int) {
	t.Helper()
	if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 0, gid); err != nil {
		t.Fatal(err)
	}
}

// unitSettings reads KEY=VALUE lines of a unit file (the last one wins;
// repeated After= lines are joined).
func unitSettings(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == ';' || l[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: line %q is not KEY=VALUE", path, l)
		}
		if k == "After" && m[k] != "" {
			v = m[k] + " " + v
		}
		m[k] = v
	}
	return m
}

func get(url string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// syncBuffer collects the gateway's output from its two pipes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
