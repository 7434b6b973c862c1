package e2e

// The Docker end-to-end tests' world: images built once per test binary,
// FROM scratch (no registry answers here), and containers that every test
// removes, even when it fails.
//
// Images, all tagged naught-e2e-<kind>:<run id> and labelled
// naught-e2e=<run id>:
//   - node: the host's node binary and the shared libraries ldd names, the
//     e2e test scripts under /e2e and the static orphans program. It stands
//     in for node:20-slim.
//   - naught: the static binary at /naught, as docker/Dockerfile's final
//     stage holds it (its build stage needs a Go image, which no registry
//     here can give).
//   - example: docker/example/Dockerfile itself, built FROM the two above
//     through its NODE_IMAGE and NAUGHT_IMAGE arguments.
//
// Without an engine the tests skip with a message, unless CI is set in the
// environment (.ci/run sets it): CI must run them, so there they fail.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// dockerLabel marks every image, container and volume these tests make.
const dockerLabel = "naught-e2e"

// dockerWorld is what the Docker tests share: the images, built once.
type dockerWorld struct {
	runID                 string
	node, naught, example string // image tags
}

var (
	dockerOnce  sync.Once
	dockerState *dockerWorld
	dockerErr   error // the engine did not answer, or a build failed
	dockerNoEng bool  // dockerErr is "no engine"
)

// needDocker returns the Docker world, building it on first use. Without an
// engine the test skips (or, in CI, fails).
func needDocker(t *testing.T) *dockerWorld {
	t.Helper()
	dockerOnce.Do(func() {
		if out, err := dockerCmd(30*time.Second, "info", "--format", "{{.ServerVersion}}"); err != nil {
			dockerErr, dockerNoEng = fmt.Errorf("docker info: %w: %s", err, out), true
			return
		}
		dockerState, dockerErr = buildDockerWorld()
	})
	switch {
	case dockerErr != nil && dockerNoEng && os.Getenv("CI") == "":
		t.Skipf("no Docker engine answers, skipping the Docker end-to-end tests (CI runs them): %v", dockerErr)
	case dockerErr != nil:
		t.Fatalf("the Docker end-to-end tests cannot run: %v", dockerErr)
	}
	return dockerState
}

// dockerCmd runs the docker CLI (bounded by timeout) and returns its
// combined output.
func dockerCmd(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("docker %s: no answer in %s", strings.Join(args, " "), timeout)
	}
	return string(out), err
}

// dockerRun runs the docker CLI with separate output streams.
func dockerRun(t *testing.T, args ...string) result {
	t.Helper()
	return runBounded(t, exec.Command("docker", args...), 2*time.Minute)
}

func buildDockerWorld() (*dockerWorld, error) {
	id := strconv.Itoa(os.Getpid())
	w := &dockerWorld{
		runID:   id,
		node:    "naught-e2e-node:" + id,
		naught:  "naught-e2e-naught:" + id,
		example: "naught-e2e-example:" + id,
	}
	dir, err := os.MkdirTemp("", "naught-e2e-docker")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	// naught: the static binary alone.
	naughtCtx := filepath.Join(dir, "naught")
	if err := copyFile(naughtBin, filepath.Join(naughtCtx, "naught"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(naughtCtx, "Dockerfile"),
		[]byte("FROM scratch\nCOPY naught /naught\nENTRYPOINT [\"/naught\"]\n"), 0o644); err != nil {
		return nil, err
	}
	if err := dockerBuild(w, w.naught, naughtCtx); err != nil {
		return nil, err
	}

	// node: the host's node and its libraries, the test scripts, orphans.
	nodeCtx := filepath.Join(dir, "node")
	rootfs := filepath.Join(nodeCtx, "rootfs")
	if err := copyNode(rootfs); err != nil {
		return nil, err
	}
	for _, name := range []string{"server.js", "docker-orphans.js"} {
		if err := copyFile(filepath.Join("testdata", name), filepath.Join(rootfs, "e2e", name), 0o644); err != nil {
			return nil, err
		}
	}
	gcc := exec.Command("gcc", "-static", "-O2", "-o", filepath.Join(rootfs, "e2e", "orphans"), filepath.Join("testdata", "orphans.c"))
	if out, err := gcc.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("gcc -static orphans.c: %w: %s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(rootfs, "tmp"), 0o777); err != nil {
		return nil, err
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(nodeCtx, "Dockerfile"),
		[]byte("FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"), 0o644); err != nil {
		return nil, err
	}
	if err := dockerBuild(w, w.node, nodeCtx); err != nil {
		return nil, err
	}

	// example: the shipped docker/example/Dockerfile.
	if err := dockerBuild(w, w.example, filepath.Join("..", "docker", "example"),
		"--build-arg", "NAUGHT_IMAGE="+w.naught, "--build-arg", "NODE_IMAGE="+w.node); err != nil {
		return nil, err
	}
	return w, nil
}

func dockerBuild(w *dockerWorld, tag, context string, args ...string) error {
	args = append([]string{"build", "-q", "--label", dockerLabel + "=" + w.runID, "-t", tag}, args...)
	if out, err := dockerCmd(5*time.Minute, append(args, context)...); err != nil {
		return fmt.Errorf("docker build %s: %w\n%s", tag, err, out)
	}
	return nil
}

// copyNode copies the host's node and the shared libraries it loads into
// rootfs, at the same paths.
func copyNode(rootfs string) error {
	node, err := exec.LookPath("node")
	if err != nil {
		return err
	}
	node, err = filepath.EvalSymlinks(node)
	if err != nil {
		return err
	}
	out, err := exec.Command("ldd", node).Output()
	if err != nil {
		return fmt.Errorf("ldd %s: %w", node, err)
	}
	files := []string{node}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
		// "/lib64/ld-linux-x86-64.so.2 (0x...)"
		for _, f := range strings.Fields(sc.Text()) {
			if strings.HasPrefix(f, "/") {
				files = append(files, f)
			}
		}
	}
	for _, f := range files {
		if err := copyFile(f, filepath.Join(rootfs, f), 0o755); err != nil {
			return err
		}
	}
	// node:20-slim has node in /usr/local/bin.
	if err := os.MkdirAll(filepath.Join(rootfs, "usr", "local", "bin"), 0o755); err != nil {
		return err
	}
	return os.Symlink(node, filepath.Join(rootfs, "usr", "local", "bin", "node"))
}

// copyFile copies src (through symlinks) to dst, creating dst's folder.
func copyFile(src, dst string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// dockerCleanup removes whatever the Docker tests left: containers and
// volumes first (tests remove their own; this catches a test that died),
// then the images.
func dockerCleanup() {
	if dockerState == nil {
		return
	}
	filter := "label=" + dockerLabel + "=" + dockerState.runID
	if out, err := dockerCmd(time.Minute, "ps", "-aq", "--filter", filter); err == nil && strings.TrimSpace(out) != "" {
		_, _ = dockerCmd(2*time.Minute, append([]string{"rm", "-f", "-v"}, strings.Fields(out)...)...)
	}
	if out, err := dockerCmd(time.Minute, "volume", "ls", "-q", "--filter", filter); err == nil && strings.TrimSpace(out) != "" {
		_, _ = dockerCmd(time.Minute, append([]string{"volume", "rm", "-f"}, strings.Fields(out)...)...)
	}
	if out, err := dockerCmd(2*time.Minute, "rmi", "-f", dockerState.example, dockerState.node, dockerState.naught); err != nil {
		fmt.Fprintf(os.Stderr, "removing the e2e images: %v\n%s", err, out)
	}
}

// container is a running container of a test, removed at its cleanup.
type container struct {
	t  *testing.T
	id string
}

// start runs a detached container of image with docker run's args before
// the image and cmd after it.
func (w *dockerWorld) start(t *testing.T, args []string, image string, cmd ...string) *container {
	t.Helper()
	all := append([]string{"run", "-d", "--label", dockerLabel + "=" + w.runID}, args...)
	r := dockerRun(t, append(append(all, image), cmd...)...)
	if r.code != 0 {
		t.Fatalf("docker run:\n%s", r)
	}
	c := &container{t: t, id: strings.TrimSpace(r.stdout)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("docker logs %.12s:\n%s", c.id, c.logs())
		}
		if out, err := dockerCmd(2*time.Minute, "rm", "-f", "-v", c.id); err != nil {
			t.Errorf("docker rm -f %s: %v\n%s", c.id, err, out)
		}
	})
	return c
}

// logs is the container's output so far, stdout and stderr together.
func (c *container) logs() string {
	out, _ := dockerCmd(time.Minute, "logs", c.id)
	return out
}

// waitLog waits until the container's output holds substr n times.
func (c *container) waitLog(substr string, n int) {
	c.t.Helper()
	deadline := time.Now().Add(waitFor)
	for strings.Count(c.logs(), substr) < n {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %d× %q in the container's output:\n%s", n, substr, c.logs())
		}
		if c.state() != "running" {
			c.t.Fatalf("the container is %s, waiting for %d× %q:\n%s", c.state(), n, substr, c.logs())
		}
		time.Sleep(50 * time.Millisecond) // polling docker logs
	}
}

func (c *container) inspect(format string) string {
	out, _ := dockerCmd(time.Minute, "inspect", "-f", format, c.id)
	return strings.TrimSpace(out)
}

func (c *container) state() string { return c.inspect("{{.State.Status}}") }

// url is http://<container address>:port/ on the default bridge.
func (c *container) url(port int) string {
	c.t.Helper()
	ip := c.inspect("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
	if ip == "" {
		c.t.Fatalf("container %.12s has no address", c.id)
	}
	return fmt.Sprintf("http://%s:%d/", ip, port)
}

// exec runs cmd in the container (docker exec).
func (c *container) exec(cmd ...string) result {
	c.t.Helper()
	return dockerRun(c.t, append([]string{"exec", c.id}, cmd...)...)
}
