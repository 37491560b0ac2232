package main

// Static checks of the deployment files: Dockerfile, .dockerignore,
// docker-compose.yml and the Kustomize trees under deploy/k8s. No Docker
// engine or Kubernetes cluster is needed: the Kustomize trees are rendered
// in-process (as `kubectl apply -k` renders them) and every object is decoded
// strictly into the Kubernetes API's Go types, so a misspelled or misplaced
// field fails here. What the files tell syncd is checked against Config itself:
// every SYNCD_* variable must be one Config reads, and each syncd container's
// resolved environment must pass Config.Validate.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	yaml "go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	k8syaml "sigs.k8s.io/yaml"
)

// deployRoot is the repository root, seen from cmd/syncd.
const deployRoot = "../.."

// configVars maps each variable Config reads (its env tags: the single
// source of truth for which SYNCD_* variables exist) to whether it is
// required.
func configVars(t *testing.T) map[string]bool {
	t.Helper()
	vars := map[string]bool{}
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" {
			continue
		}
		vars[name] = strings.Contains(opts, "required") || strings.Contains(f.Tag.Get("help"), "(required)")
	}
	if !vars["SYNCD_STREAMS"] || len(vars) < 5 {
		t.Fatalf("Config's env tags look wrong: %v", vars)
	}
	return vars
}

// checkEnv fails for every SYNCD_* variable Config does not read, then loads
// vars with syncd's own loader (defaults, parsing, Validate) and returns the
// configuration syncd would run with. When complete is false (a base meant
// to be completed by an overlay or at run time), missing required variables
// get placeholders.
func checkEnv(t *testing.T, where string, known map[string]bool, vars map[string]string, complete bool) Config {
	t.Helper()
	environ := []string{}
	for name, v := range vars {
		if _, ok := known[name]; strings.HasPrefix(name, "SYNCD_") && !ok {
			t.Errorf("%s: sets %s, which syncd does not read (Config has no such env tag)", where, name)
		}
		if name == "SYNCD_AUTH_TOKEN_FILE" && v != "" {
			// loadConfig stats the file; its mount is checked separately.
			v = filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(v, []byte("t"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		environ = append(environ, name+"="+v)
	}
	for name, required := range known {
		if !required || strings.TrimSpace(vars[name]) != "" {
			continue
		}
		if complete {
			t.Errorf("%s: required %s is not set", where, name)
		} else if name == "SYNCD_STREAMS" {
			environ = append(environ, name+"=http://streams.invalid/v1/stream/placeholder")
		}
	}
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg, _, err := loadConfig(environ, fs, nil, true)
	if err != nil {
		t.Errorf("%s: syncd would refuse to start: %v", where, err)
	}
	return cfg
}

// opsPort is the port of cfg's SYNCD_HTTP_ADDR, or -1 when the ops
// endpoints are disabled.
func opsPort(t *testing.T, where string, cfg Config) int {
	t.Helper()
	_, p, err := net.SplitHostPort(cfg.HTTPAddr)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Errorf("%s: SYNCD_HTTP_ADDR=%q: no ops port for the probes and Prometheus", where, cfg.HTTPAddr)
		return -1
	}
	return n
}

// TestDeployFilesParse parses every YAML document under deploy/ and
// docker-compose.yml. yaml.v3 also rejects duplicate keys, which Kubernetes
// and Compose would silently resolve to the last one.
func TestDeployFilesParse(t *testing.T) {
	t.Parallel()
	files := []string{filepath.Join(deployRoot, "docker-compose.yml")}
	err := filepath.WalkDir(filepath.Join(deployRoot, "deploy"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	for _, p := range files {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		docs := 0
		for {
			var doc yaml.Node
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Errorf("%s: document %d: %v", p, docs+1, err)
				break
			}
			docs++
		}
		if docs == 0 {
			t.Errorf("%s: no YAML document", p)
		}
	}
}

// TestDeployVariablesExist scans the deployment files' text, comments
// included, for SYNCD_* names: the docs beside the settings must not name a
// variable syncd does not read either.
func TestDeployVariablesExist(t *testing.T) {
	t.Parallel()
	known := configVars(t)
	re := regexp.MustCompile(`SYNCD_[A-Z0-9_]*[A-Z0-9]`)
	roots := []string{"Dockerfile", ".dockerignore", "docker-compose.yml", "deploy", "tools/compose"}
	for _, r := range roots {
		err := filepath.WalkDir(filepath.Join(deployRoot, r), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			raw, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, name := range re.FindAllString(string(raw), -1) {
				if _, ok := known[name]; !ok {
					t.Errorf("%s names %s, which syncd's Config does not read", p, name)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// dockerInstr is one Dockerfile instruction.
type dockerInstr struct {
	stage   int // index of the FROM it follows
	keyword string
	args    string
}

// parseDockerfile joins continuation lines and drops comments: enough of
// the syntax for the instructions these Dockerfiles use.
func parseDockerfile(t *testing.T, p string) (instrs []dockerInstr, stages map[string]int) {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	stages = map[string]int{}
	stage, cur := -1, ""
	for line := range strings.SplitSeq(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur += s + " "
			continue
		}
		cur += trimmed
		kw, args, _ := strings.Cut(cur, " ")
		kw = strings.ToUpper(kw)
		if kw == "FROM" {
			stage++
			f := strings.Fields(args)
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				stages[f[2]] = stage
			}
		}
		instrs = append(instrs, dockerInstr{stage, kw, strings.TrimSpace(args)})
		cur = ""
	}
	return instrs, stages
}

func jsonArgs(t *testing.T, where, s string) []string {
	t.Helper()
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Errorf("%s: %q is not the exec (JSON array) form: %v", where, s, err)
	}
	return out
}

func TestDeployDockerfile(t *testing.T) {
	t.Parallel()
	_ = version // the -X main.version target must exist
	known := configVars(t)
	instrs, _ := parseDockerfile(t, filepath.Join(deployRoot, "Dockerfile"))
	last := instrs[len(instrs)-1].stage
	vars := map[string]string{}
	var exposed, volumes []string
	var build, user, base string
	for _, in := range instrs {
		switch {
		case in.keyword == "RUN" && strings.Contains(in.args, "go build"):
			build = in.args
		case in.keyword == "FROM" && in.stage == last:
			base = strings.Fields(in.args)[0]
		case in.stage != last:
		case in.keyword == "ENV":
			for _, kv := range strings.Fields(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				vars[k] = v
			}
		case in.keyword == "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		case in.keyword == "VOLUME":
			volumes = append(volumes, jsonArgs(t, "VOLUME", in.args)...)
		case in.keyword == "USER":
			user = in.args
		case in.keyword == "ENTRYPOINT":
			if got := jsonArgs(t, "ENTRYPOINT", in.args); !slices.Equal(got, []string{"syncd"}) {
				t.Errorf(`ENTRYPOINT %v, want ["syncd"]`, got)
			}
		case in.keyword == "CMD":
			if got := jsonArgs(t, "CMD", in.args); !slices.Equal(got, []string{"run"}) {
				t.Errorf(`CMD %v, want ["run"]`, got)
			}
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "./cmd/syncd"} {
		if !strings.Contains(build, want) {
			t.Errorf("the go build step %q lacks %q", build, want)
		}
	}
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("runtime image %q: want distroless static (CA certificates, tzdata, no libc needed) or scratch", base)
	}
	if u, _, _ := strings.Cut(user, ":"); u != "nonroot" && u != "65532" {
		t.Errorf("USER %q: want the distroless nonroot user", user)
	}
	// SYNCD_STREAMS is supplied at run time.
	cfg := checkEnv(t, "Dockerfile ENV", known, vars, false)
	port := strconv.Itoa(opsPort(t, "Dockerfile", cfg))
	if !slices.Equal(exposed, []string{port}) {
		t.Errorf("EXPOSE %v, want the ops port %s of the image's SYNCD_HTTP_ADDR", exposed, port)
	}
	if dialect, dbPath, err := parseDatabaseURL(cfg.DatabaseURL); err == nil && dialect == "sqlite" {
		if !slices.ContainsFunc(volumes, func(v string) bool { return strings.HasPrefix(dbPath, strings.TrimSuffix(v, "/")+"/") }) {
			t.Errorf("the image's SQLite file %s is not under a VOLUME %v", dbPath, volumes)
		}
	}
}

// TestDeployDockerignore checks that the build context keeps every file the
// images need, with Docker's own pattern matcher.
func TestDeployDockerignore(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join(deployRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, dir := range []string{"cmd", "internal", "migrations"} {
		err := filepath.WalkDir(filepath.Join(deployRoot, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") || strings.Contains(p, "testdata") {
				return err
			}
			rel, _ := filepath.Rel(deployRoot, p)
			needed = append(needed, filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Every COPY source of both Dockerfiles (the context is the root).
	for _, df := range []string{"Dockerfile", "tools/compose/Dockerfile"} {
		instrs, _ := parseDockerfile(t, filepath.Join(deployRoot, df))
		for _, in := range instrs {
			if in.keyword != "COPY" || strings.Contains(in.args, "--from") {
				continue
			}
			f := strings.Fields(in.args)
			for _, src := range f[:len(f)-1] {
				if src == "." {
					continue
				}
				if _, err := os.Stat(filepath.Join(deployRoot, src)); err != nil {
					t.Errorf("%s: COPY %s: %v", df, src, err)
				}
				needed = append(needed, src)
			}
		}
	}
	for _, p := range needed {
		if ex, err := pm.MatchesOrParentMatches(p); err != nil || ex {
			t.Errorf(".dockerignore excludes %s, which an image build needs (err %v)", p, err)
		}
	}
}

// composeFile holds the parts of docker-compose.yml the checks read; the
// decoder rejects any other key, so a misspelled one fails here.
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	StdinOpen   bool              `yaml:"stdin_open"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test     []string `yaml:"test"`
		Interval string   `yaml:"interval"`
		Timeout  string   `yaml:"timeout"`
		Retries  int      `yaml:"retries"`
	} `yaml:"healthcheck"`
	Restart string `yaml:"restart"`
}

type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Target     string            `yaml:"target"`
	Args       map[string]string `yaml:"args"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(deployRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var c composeFile
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

func TestDeployCompose(t *testing.T) {
	t.Parallel()
	known := configVars(t)
	c := loadCompose(t)
	for _, name := range []string{"streams", "postgres", "syncd", "producer"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("docker-compose.yml has no service %q", name)
		}
	}
	for name, s := range c.Services {
		checkComposeService(t, c, name, s)
	}

	syncd := c.Services["syncd"]
	if syncd.Build == nil || syncd.Build.Context != "." || (syncd.Build.Dockerfile != "" && syncd.Build.Dockerfile != "Dockerfile") {
		t.Errorf("syncd must be built from the root Dockerfile, got %+v", syncd.Build)
	}
	cfg := checkEnv(t, "compose service syncd", known, syncd.Environment, true)
	port := strconv.Itoa(opsPort(t, "compose service syncd", cfg))
	if !slices.ContainsFunc(syncd.Ports, func(p string) bool { return strings.HasSuffix(p, ":"+port) }) {
		t.Errorf("syncd publishes %v, not its ops port %s", syncd.Ports, port)
	}

	// Every host syncd talks to is a service it waits for.
	streams, err := (Config{Streams: syncd.Environment["SYNCD_STREAMS"]}).StreamList()
	if err != nil {
		t.Fatal(err)
	}
	producerURL := c.Services["producer"].Environment["STREAM_URL"]
	for _, s := range streams {
		u, _ := url.Parse(s.URL)
		checkComposeTarget(t, c, syncd, u, "--port")
		if s.URL != producerURL {
			t.Errorf("syncd reads %s but the producer appends to %s", s.URL, producerURL)
		}
	}
	dbURL, err := url.Parse(syncd.Environment["SYNCD_DATABASE_URL"])
	if err != nil || dbURL.Scheme != "postgres" {
		t.Fatalf("compose syncd should sync into the postgres service, got %q", syncd.Environment["SYNCD_DATABASE_URL"])
	}
	if dbURL.Hostname() != "postgres" || syncd.DependsOn["postgres"].Condition != "service_healthy" {
		t.Errorf("syncd's database %s must be the postgres service, waited for with condition service_healthy", dbURL.Redacted())
	}

	// tools/dsserver/server.mjs stops when its stdin closes; a container's
	// stdin is closed unless stdin_open is set.
	srv, err := os.ReadFile(filepath.Join(deployRoot, "tools/dsserver/server.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(srv, []byte(`process.stdin.on("end"`)) && !c.Services["streams"].StdinOpen {
		t.Error("service streams runs server.mjs, which exits when stdin closes: set stdin_open: true")
	}
}

// checkComposeService checks a service's build and dependencies.
func checkComposeService(t *testing.T, c composeFile, name string, s composeService) {
	t.Helper()
	if (s.Image == "") == (s.Build == nil) {
		t.Errorf("service %s: set exactly one of image and build", name)
	}
	if b := s.Build; b != nil {
		df := b.Dockerfile
		if df == "" {
			df = "Dockerfile"
		}
		_, stages := parseDockerfile(t, filepath.Join(deployRoot, b.Context, df))
		if _, ok := stages[b.Target]; b.Target != "" && !ok {
			t.Errorf("service %s: %s has no stage %q (has %v)", name, df, b.Target, stages)
		}
	}
	for dep, d := range s.DependsOn {
		other, ok := c.Services[dep]
		switch {
		case !ok:
			t.Errorf("service %s depends on unknown service %s", name, dep)
		case d.Condition == "service_healthy" && other.Healthcheck == nil:
			t.Errorf("service %s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
		case d.Condition != "service_healthy" && d.Condition != "service_started" && d.Condition != "service_completed_successfully":
			t.Errorf("service %s: depends_on %s: unknown condition %q", name, dep, d.Condition)
		}
	}
	for _, v := range s.Volumes {
		if src, _, ok := strings.Cut(v, ":"); ok && !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
			if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s mounts volume %s, which is not declared", name, src)
			}
		}
	}
}

// checkComposeTarget checks that u's host is a service that from waits for
// until healthy and that the port is the one the service listens on (the
// value after portFlag in its image's CMD).
func checkComposeTarget(t *testing.T, c composeFile, from composeService, u *url.URL, portFlag string) {
	t.Helper()
	host := u.Hostname()
	svc, ok := c.Services[host]
	if !ok || from.DependsOn[host].Condition != "service_healthy" {
		t.Errorf("%s: host %s must be a service waited for with condition service_healthy", u, host)
		return
	}
	if svc.Build == nil {
		return
	}
	instrs, stages := parseDockerfile(t, filepath.Join(deployRoot, svc.Build.Context, svc.Build.Dockerfile))
	for _, in := range instrs {
		if in.keyword == "CMD" && in.stage == stages[svc.Build.Target] {
			args := jsonArgs(t, "CMD", in.args)
			if i := slices.Index(args, portFlag); i < 0 || i+1 >= len(args) || args[i+1] != u.Port() {
				t.Errorf("%s: service %s listens per its CMD %v, not on port %s", u, host, args, u.Port())
			}
		}
	}
}

// k8sObjects is one rendered Kustomize tree, decoded.
type k8sObjects struct {
	deployments     []appsv1.Deployment
	configMaps      map[string]corev1.ConfigMap
	secrets         map[string]corev1.Secret
	services        []corev1.Service
	pdbs            []policyv1.PodDisruptionBudget
	serviceMonitors []serviceMonitor
	prometheusRules []prometheusRule // checked by TestMonitoringPrometheusRule
}

// serviceMonitor is the part of a Prometheus Operator ServiceMonitor used
// here (its Go types live in a large module of their own).
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// renderKustomize builds dir as `kubectl apply -k` would and decodes every
// object strictly into its API type.
func renderKustomize(t *testing.T, dir string) k8sObjects {
	t.Helper()
	return renderKustomizeFS(t, filesys.MakeFsOnDisk(), dir)
}

// renderKustomizeFS is renderKustomize on a file system of the test's
// choosing (an in-memory copy with overlays the repository does not hold).
func renderKustomizeFS(t *testing.T, fsys filesys.FileSystem, dir string) k8sObjects {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	objs := k8sObjects{configMaps: map[string]corev1.ConfigMap{}, secrets: map[string]corev1.Secret{}}
	for _, r := range rm.Resources() {
		raw, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		gvk := r.GetGvk()
		id := fmt.Sprintf("%s %s/%s", dir, gvk.Kind, r.GetName())
		var dst any
		switch gvk.ApiVersion() + " " + gvk.Kind {
		case "apps/v1 Deployment":
			objs.deployments = append(objs.deployments, appsv1.Deployment{})
			dst = &objs.deployments[len(objs.deployments)-1]
		case "v1 Service":
			objs.services = append(objs.services, corev1.Service{})
			dst = &objs.services[len(objs.services)-1]
		case "policy/v1 PodDisruptionBudget":
			objs.pdbs = append(objs.pdbs, policyv1.PodDisruptionBudget{})
			dst = &objs.pdbs[len(objs.pdbs)-1]
		case "v1 ConfigMap":
			var cm corev1.ConfigMap
			strictDecode(t, id, raw, &cm)
			objs.configMaps[cm.Name] = cm
			continue
		case "v1 Secret":
			var s corev1.Secret
			strictDecode(t, id, raw, &s)
			objs.secrets[s.Name] = s
			continue
		case "monitoring.coreos.com/v1 ServiceMonitor":
			objs.serviceMonitors = append(objs.serviceMonitors, serviceMonitor{})
			dst = &objs.serviceMonitors[len(objs.serviceMonitors)-1]
		case "monitoring.coreos.com/v1 PrometheusRule":
			objs.prometheusRules = append(objs.prometheusRules, prometheusRule{})
			dst = &objs.prometheusRules[len(objs.prometheusRules)-1]
		default:
			t.Errorf("%s: no check knows the kind %s: add one to deploy_test.go", id, gvk)
			continue
		}
		strictDecode(t, id, raw, dst)
	}
	return objs
}

// strictDecode decodes as the API server does: field names are
// case-sensitive, and an unknown or duplicate field is an error.
func strictDecode(t *testing.T, id string, raw []byte, dst any) {
	t.Helper()
	js, err := k8syaml.YAMLToJSON(raw)
	if err != nil {
		t.Errorf("%s: %v", id, err)
		return
	}
	strict, err := sigsjson.UnmarshalStrict(js, dst, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err = errors.Join(append(strict, err)...); err != nil {
		t.Errorf("%s: does not match the Kubernetes API type: %v", id, err)
	}
}

// kustomizations lists the directories under deploy/k8s holding a
// kustomization.yaml, relative to deploy/k8s.
func kustomizations(t *testing.T) []string {
	t.Helper()
	root := filepath.Join(deployRoot, "deploy", "k8s")
	var dirs, components []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "kustomization.yaml" {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			if isComponent(t, p) {
				components = append(components, rel)
			} else {
				dirs = append(dirs, rel)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".", "base", "sqlite", "postgres", "standalone", "monitoring"} {
		if !slices.Contains(dirs, want) {
			t.Errorf("deploy/k8s/%s/kustomization.yaml is missing", want)
		}
	}
	if !slices.Equal(components, []string{"components/stream-token"}) {
		t.Errorf("components %v: TestDeployStreamToken checks only components/stream-token; check any new one there", components)
	}
	return dirs
}

// isComponent reports whether the kustomization file p is a Component,
// which is applied through a variant, not on its own.
func isComponent(t *testing.T, p string) bool {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Kind string `yaml:"kind"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return k.Kind == "Component"
}

func TestDeployKubernetes(t *testing.T) {
	t.Parallel()
	known := configVars(t)
	root := filepath.Join(deployRoot, "deploy", "k8s")
	for _, dir := range kustomizations(t) {
		t.Run(strings.ReplaceAll(dir, ".", "default"), func(t *testing.T) {
			objs := renderKustomize(t, filepath.Join(root, dir))
			if dir == "monitoring" {
				// The ServiceMonitor must scrape the default (sidecar)
				// variant and the standalone Deployment alike.
				checkServiceMonitors(t, known, objs.serviceMonitors, renderKustomize(t, root))
				checkServiceMonitors(t, known, objs.serviceMonitors, renderKustomize(t, filepath.Join(root, "standalone")))
				return
			}
			if len(objs.deployments) == 0 {
				t.Fatal("renders no Deployment")
			}
			for _, d := range objs.deployments {
				checkDeployment(t, known, objs, d, dir)
			}
			for _, s := range objs.services {
				checkService(t, objs, s)
			}
			for _, p := range objs.pdbs {
				checkPDB(t, objs, p)
			}
			// The token is opt-in (components/stream-token): no variant
			// sends one, so none can send a placeholder.
			for _, d := range objs.deployments {
				for _, c := range syncdContainers(d) {
					vars := containerEnv(t, objs, d.Name, c)
					if vars["SYNCD_AUTH_TOKEN"] != "" || vars["SYNCD_AUTH_TOKEN_FILE"] != "" {
						t.Errorf("Deployment %s sends a stream token by default; it belongs in components/stream-token", d.Name)
					}
				}
			}
			if len(objs.secrets["syncd-stream-token"].StringData)+len(objs.secrets["syncd-stream-token"].Data) > 0 {
				t.Errorf("%s renders the Secret syncd-stream-token without the stream-token component", dir)
			}
		})
	}
}

// syncdContainers returns the containers and init containers of d that run
// the syncd image.
func syncdContainers(d appsv1.Deployment) []corev1.Container {
	pod := d.Spec.Template.Spec
	var out []corev1.Container
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		if syncdContainer(c) {
			out = append(out, c)
		}
	}
	return out
}

// standaloneDeployment reports whether d runs syncd alone (no app
// container): deploy/k8s/standalone.
func standaloneDeployment(d appsv1.Deployment) bool {
	cs := d.Spec.Template.Spec.Containers
	return len(cs) > 0 && !slices.ContainsFunc(cs, func(c corev1.Container) bool { return !syncdContainer(c) })
}

// checkPDB checks that a PodDisruptionBudget selects a Deployment's pods
// and leaves one of them running when there are several.
func checkPDB(t *testing.T, objs k8sObjects, p policyv1.PodDisruptionBudget) {
	t.Helper()
	for _, d := range objs.deployments {
		if p.Spec.Selector == nil || !selects(p.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			continue
		}
		replicas := int32(1)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		if mu := p.Spec.MaxUnavailable; mu == nil || mu.Type != intstr.Int || int32(mu.IntValue()) >= replicas {
			t.Errorf("PodDisruptionBudget %s: maxUnavailable %v must leave one of the %d replicas of %s running", p.Name, mu, replicas, d.Name)
		}
		return
	}
	t.Errorf("PodDisruptionBudget %s selects no pod of the manifests", p.Name)
}

// selects reports whether a non-empty match-labels selector matches labels.
func selects(match, labels map[string]string) bool {
	ok := len(match) > 0
	for k, v := range match {
		ok = ok && labels[k] == v
	}
	return ok
}

// syncdContainer reports whether c runs the syncd image.
func syncdContainer(c corev1.Container) bool {
	ref := c.Image
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return path.Base(ref) == "syncd"
}

// checkDeployment checks a Deployment rendered from deploy/k8s/dir. Every
// directory but base is applied as is, so its syncd must be able to start.
func checkDeployment(t *testing.T, known map[string]bool, objs k8sObjects, d appsv1.Deployment, dir string) {
	t.Helper()
	pod := d.Spec.Template.Spec
	if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 {
		t.Fatalf("Deployment %s has no selector", d.Name)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("Deployment %s: the selector %s=%s does not match the pod template's labels", d.Name, k, v)
		}
	}
	standalone := standaloneDeployment(d)
	for _, c := range pod.Containers {
		if c.Name == "" || c.Image == "" {
			t.Errorf("Deployment %s: a container lacks a name or an image", d.Name)
		}
		if syncdContainer(c) && !standalone {
			t.Errorf("Deployment %s: syncd is a regular container beside the app; make it a native sidecar (initContainers, restartPolicy: Always)", d.Name)
		}
		checkSecurity(t, d.Name, pod, c)
	}
	found := 0
	for _, c := range pod.InitContainers {
		checkSecurity(t, d.Name, pod, c)
		if !syncdContainer(c) {
			continue
		}
		found++
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Errorf("Deployment %s: init container %s needs restartPolicy: Always to be a native sidecar", d.Name, c.Name)
		}
	}
	if standalone {
		found = len(pod.Containers)
		if found != 1 || len(pod.InitContainers) > 0 {
			t.Errorf("Deployment %s: a standalone syncd Deployment runs exactly one container, syncd", d.Name)
		}
	} else if found != 1 {
		t.Errorf("Deployment %s: %d syncd sidecars, want 1", d.Name, found)
	}
	for _, c := range syncdContainers(d) {
		vars := containerEnv(t, objs, d.Name, c)
		where := fmt.Sprintf("%s: Deployment %s, container %s", dir, d.Name, c.Name)
		cfg := checkEnv(t, where, known, vars, dir != "base")
		checkSyncdContainer(t, cfg, d, c, vars, dir)
		checkReplicas(t, where, d, c, cfg)
		if tok := vars["SYNCD_AUTH_TOKEN_FILE"]; tok != "" {
			checkSecretFile(t, objs, pod, c, tok)
		}
	}
	volumes := map[string]bool{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = true
	}
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("Deployment %s: container %s mounts undefined volume %s", d.Name, c.Name, m.Name)
			}
		}
	}
}

// containerEnv resolves c's environment from its envFrom ConfigMaps and env
// entries (values, ConfigMap and Secret references) in the rendered objects.
func containerEnv(t *testing.T, objs k8sObjects, where string, c corev1.Container) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Errorf("%s/%s: only envFrom configMapRef is resolved here", where, c.Name)
			continue
		}
		cm, ok := objs.configMaps[ef.ConfigMapRef.Name]
		if !ok {
			t.Errorf("%s/%s: envFrom ConfigMap %s is not part of the manifests", where, c.Name, ef.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			vars[ef.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			vars[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := secretValue(objs.secrets[ref.Name], ref.Key)
			if !ok {
				t.Errorf("%s/%s: %s refers to Secret %s key %s, which the manifests do not define", where, c.Name, e.Name, ref.Name, ref.Key)
			}
			vars[e.Name] = v
		case e.ValueFrom.FieldRef != nil:
			// The downward API: fill in what the kubelet would, recognisably.
			switch p := e.ValueFrom.FieldRef.FieldPath; p {
			case "metadata.name", "metadata.namespace", "spec.nodeName", "status.podIP":
				vars[e.Name] = "downward-api:" + p
			default:
				t.Errorf("%s/%s: %s refers to field %s, which this check does not resolve", where, c.Name, e.Name, p)
			}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			v, ok := objs.configMaps[ref.Name].Data[ref.Key]
			if !ok {
				t.Errorf("%s/%s: %s refers to ConfigMap %s key %s, which the manifests do not define", where, c.Name, e.Name, ref.Name, ref.Key)
			}
			vars[e.Name] = v
		}
	}
	return vars
}

func secretValue(s corev1.Secret, key string) (string, bool) {
	if v, ok := s.StringData[key]; ok {
		return v, true
	}
	v, ok := s.Data[key]
	return string(v), ok
}

// checkSecurity checks the hardening every container of the examples has.
func checkSecurity(t *testing.T, dep string, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("Deployment %s, container %s: no securityContext", dep, c.Name)
		return
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	where := fmt.Sprintf("Deployment %s, container %s", dep, c.Name)
	if !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot) {
		t.Errorf("%s: runAsNonRoot is not set", where)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Errorf("%s: readOnlyRootFilesystem is not true", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", where)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities must drop ALL and add none", where)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccompProfile is not RuntimeDefault", where)
	}
}

// checkSyncdContainer checks the probes, ports, resources and writable paths
// of the syncd sidecar against its resolved configuration.
func checkSyncdContainer(t *testing.T, cfg Config, d appsv1.Deployment, c corev1.Container, vars map[string]string, dir string) {
	t.Helper()
	where := fmt.Sprintf("%s: Deployment %s, container %s", dir, d.Name, c.Name)
	port := opsPort(t, where, cfg)
	probes := []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"startupProbe", c.StartupProbe, "/healthz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}}
	for _, p := range probes {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s", where, p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s: %s path %s, want %s", where, p.name, p.probe.HTTPGet.Path, p.path)
		}
		if got := resolvePort(c, p.probe.HTTPGet.Port); got != port {
			t.Errorf("%s: %s port %s resolves to %d, but SYNCD_HTTP_ADDR listens on %d", where, p.name, p.probe.HTTPGet.Port.String(), got, port)
		}
	}
	ann := d.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] == "true" && (ann["prometheus.io/port"] != strconv.Itoa(port) || ann["prometheus.io/path"] != "/metrics") {
		t.Errorf("%s: prometheus.io annotations %v do not point at :%d/metrics", where, ann, port)
	}
	checkResources(t, where, d, c, vars, cfg)
	if dir != "base" {
		checkWritablePaths(t, where, d.Spec.Template.Spec, c, cfg, dir)
	}
}

// resolvePort returns the number of a probe or target port, named or not.
func resolvePort(c corev1.Container, p intstr.IntOrString) int {
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return -1
}

// checkResources ties the memory limit to SYNCD_MAX_BATCH_BYTES (measured:
// a catch-up peaks at about 3x the batch bytes plus a baseline of up to
// 128 MiB with SQLite's page cache) and the grace period to the shutdown
// timeout.
func checkResources(t *testing.T, where string, d appsv1.Deployment, c corev1.Container, vars map[string]string, cfg Config) {
	t.Helper()
	r := c.Resources
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := r.Requests[name]; !ok {
			t.Errorf("%s: no %s request", where, name)
		}
	}
	limit, ok := r.Limits[corev1.ResourceMemory]
	if !ok {
		t.Fatalf("%s: no memory limit", where)
	}
	if need := 3*cfg.MaxBatchBytes + 128<<20; limit.Value() < need {
		t.Errorf("%s: memory limit %s is below 3 x SYNCD_MAX_BATCH_BYTES + 128Mi = %d bytes", where, limit.String(), need)
	}
	if gml, ok := vars["GOMEMLIMIT"]; ok {
		q, err := resource.ParseQuantity(strings.TrimSuffix(gml, "B"))
		if err != nil || q.Value() >= limit.Value() {
			t.Errorf("%s: GOMEMLIMIT=%s must be below the memory limit %s", where, gml, limit.String())
		}
	}
	shutdown := cfg.ShutdownTimeout
	grace := int64(30)
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	if time.Duration(grace)*time.Second < shutdown+5*time.Second {
		t.Errorf("%s: terminationGracePeriodSeconds %d leaves no margin over SYNCD_SHUTDOWN_TIMEOUT %s", where, grace, shutdown)
	}
}

// checkWritablePaths: with a read-only root filesystem syncd needs a writable
// /tmp (SQLite TEMP tables) and, with SQLite, a writable volume holding the
// database, which the sqlite variants share with another container.
func checkWritablePaths(t *testing.T, where string, pod corev1.PodSpec, c corev1.Container, cfg Config, dir string) {
	t.Helper()
	mountAt := func(c corev1.Container, p string) (corev1.VolumeMount, bool) {
		for _, m := range c.VolumeMounts {
			if m.MountPath == p && !m.ReadOnly && m.SubPath == "" {
				return m, true
			}
		}
		return corev1.VolumeMount{}, false
	}
	if _, ok := mountAt(c, "/tmp"); !ok {
		t.Errorf("%s: the root filesystem is read-only but /tmp has no writable volume", where)
	}
	dialect, dbPath, err := parseDatabaseURL(cfg.DatabaseURL)
	if err != nil {
		return // checkEnv reports it
	}
	wantDialect := map[string]string{".": "sqlite", "sqlite": "sqlite", "postgres": "postgres", "standalone": "postgres"}[dir]
	if wantDialect != "" && dialect != wantDialect {
		t.Errorf("%s: variant %s syncs into %s", where, dir, dialect)
	}
	if dialect != "sqlite" {
		return
	}
	m, ok := mountAt(c, filepath.Dir(dbPath))
	if !ok {
		t.Errorf("%s: the SQLite file %s is not on a writable volume mounted at %s", where, dbPath, filepath.Dir(dbPath))
		return
	}
	shared := false
	for _, other := range pod.Containers {
		shared = shared || slices.ContainsFunc(other.VolumeMounts, func(o corev1.VolumeMount) bool { return o.Name == m.Name })
	}
	if !shared {
		t.Errorf("%s: no app container mounts the SQLite volume %s", where, m.Name)
	}
}

// checkSecretFile: the token file must sit in a directory mounted from a
// Secret that holds it, without subPath (which would freeze rotation).
func checkSecretFile(t *testing.T, objs k8sObjects, pod corev1.PodSpec, c corev1.Container, file string) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.MountPath != filepath.Dir(file) {
			continue
		}
		if m.SubPath != "" {
			t.Errorf("container %s: %s is mounted with subPath: Secret rotation would never reach it", c.Name, m.MountPath)
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				if _, ok := secretValue(objs.secrets[v.Secret.SecretName], filepath.Base(file)); !ok {
					t.Errorf("container %s: Secret %s has no key %s for SYNCD_AUTH_TOKEN_FILE", c.Name, v.Secret.SecretName, filepath.Base(file))
				}
				return
			}
		}
	}
	t.Errorf("container %s: SYNCD_AUTH_TOKEN_FILE=%s is not in a directory mounted from a Secret", c.Name, file)
}

// checkService checks that a Service selects the Deployment's pods and
// targets ports they have.
func checkService(t *testing.T, objs k8sObjects, s corev1.Service) {
	t.Helper()
	for _, d := range objs.deployments {
		labels := d.Spec.Template.Labels
		selected := len(s.Spec.Selector) > 0
		for k, v := range s.Spec.Selector {
			selected = selected && labels[k] == v
		}
		if !selected {
			continue
		}
		for _, p := range s.Spec.Ports {
			ok := false
			for _, c := range slices.Concat(d.Spec.Template.Spec.InitContainers, d.Spec.Template.Spec.Containers) {
				ok = ok || resolvePort(c, p.TargetPort) > 0
			}
			if !ok {
				t.Errorf("Service %s: port %s targets %s, which no container of %s has", s.Name, p.Name, p.TargetPort.String(), d.Name)
			}
		}
		return
	}
	t.Errorf("Service %s selects no pod of the manifests", s.Name)
}

// checkServiceMonitors checks that each ServiceMonitor scrapes /metrics on a
// Service port that reaches syncd's ops port in the default manifests.
func checkServiceMonitors(t *testing.T, known map[string]bool, sms []serviceMonitor, app k8sObjects) {
	t.Helper()
	if len(sms) == 0 {
		t.Fatal("monitoring renders no ServiceMonitor")
	}
	for _, sm := range sms {
		for _, ep := range sm.Spec.Endpoints {
			if ep.Path != "/metrics" {
				t.Errorf("ServiceMonitor %s scrapes %s, want /metrics", sm.Metadata.Name, ep.Path)
			}
			if !serviceMonitorReachesSyncd(t, known, sm.Spec.Selector.MatchLabels, ep.Port, app) {
				t.Errorf("ServiceMonitor %s: no Service labelled %v has a port %q reaching syncd's ops port", sm.Metadata.Name, sm.Spec.Selector.MatchLabels, ep.Port)
			}
		}
	}
}

func serviceMonitorReachesSyncd(t *testing.T, known map[string]bool, match map[string]string, portName string, app k8sObjects) bool {
	for _, s := range app.services {
		ok := len(match) > 0
		for k, v := range match {
			ok = ok && s.Labels[k] == v
		}
		if !ok {
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.Name != portName {
				continue
			}
			for _, d := range app.deployments {
				if !selects(s.Spec.Selector, d.Spec.Template.Labels) {
					continue
				}
				for _, c := range syncdContainers(d) {
					cfg := checkEnv(t, "ServiceMonitor target", known, containerEnv(t, app, d.Name, c), true)
					if resolvePort(c, p.TargetPort) == opsPort(t, d.Name, cfg) {
						return true
					}
				}
			}
		}
	}
	return false
}

// checkReplicas: a Deployment whose syncd replicas share one Postgres must
// share the streams through leases, each replica under its own pod name;
// the standalone Deployment exists for exactly that.
func checkReplicas(t *testing.T, where string, d appsv1.Deployment, c corev1.Container, cfg Config) {
	t.Helper()
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	standalone := standaloneDeployment(d)
	if standalone && replicas < 2 {
		t.Errorf("%s: the standalone Deployment runs %d replica; two or more keep the streams running through a pod's loss", where, replicas)
	}
	if standalone && cfg.Leases != "on" {
		t.Errorf("%s: standalone replicas must share the streams: set SYNCD_LEASES=on", where)
	}
	if cfg.Leases != "on" {
		return
	}
	fromPodName := slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "SYNCD_REPLICA_ID" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
	})
	if !fromPodName {
		t.Errorf("%s: with SYNCD_LEASES=on, set SYNCD_REPLICA_ID from the pod name (valueFrom.fieldRef metadata.name)", where)
	}
	if cfg.LeaseTTL*4/3 > 30*time.Second {
		t.Errorf("%s: SYNCD_LEASE_TTL %s: a crashed replica's streams would wait over 30 s", where, cfg.LeaseTTL)
	}
}

// memFS copies deploy/k8s into an in-memory file system at /k8s, where a
// test can add overlays and files without touching the repository.
func memFS(t *testing.T) filesys.FileSystem {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	root := filepath.Join(deployRoot, "deploy", "k8s")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == filepath.Join("components", "stream-token", "token") {
			return nil // a developer's real token: never part of a test
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile(path.Join("/k8s", filepath.ToSlash(rel)), raw)
	})
	if err != nil {
		t.Fatal(err)
	}
	return mem
}

// TestDeployStreamToken renders each variant with the stream-token component,
// as the README tells a user to: the token file is mounted from the Secret
// and read through SYNCD_AUTH_TOKEN_FILE. Without the token file the build
// fails instead of shipping a placeholder.
func TestDeployStreamToken(t *testing.T) {
	t.Parallel()
	known := configVars(t)
	mem := memFS(t)
	overlay := func(variant string) string {
		dir := "/k8s/_with-token/" + variant
		k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../" + variant +
			"\ncomponents:\n  - ../../components/stream-token\n"
		if err := mem.WriteFile(dir+"/kustomization.yaml", []byte(k)); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	if _, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, overlay("postgres")); err == nil {
		t.Error("the stream-token component builds without its token file: it must fail rather than send a placeholder")
	}
	const token = "token-from-the-test"
	if err := mem.WriteFile("/k8s/components/stream-token/token", []byte(token)); err != nil {
		t.Fatal(err)
	}
	for _, variant := range []string{"sqlite", "postgres", "standalone"} {
		t.Run(variant, func(t *testing.T) {
			objs := renderKustomizeFS(t, mem, overlay(variant))
			if len(objs.deployments) == 0 {
				t.Fatal("renders no Deployment")
			}
			if v, _ := secretValue(objs.secrets["syncd-stream-token"], "token"); v != token {
				t.Errorf("Secret syncd-stream-token holds %q, want the token file's content", v)
			}
			for _, d := range objs.deployments {
				checkDeployment(t, known, objs, d, variant)
				for _, c := range syncdContainers(d) {
					// checkDeployment checks the file is mounted from the Secret.
					if containerEnv(t, objs, d.Name, c)["SYNCD_AUTH_TOKEN_FILE"] == "" {
						t.Errorf("Deployment %s, container %s: the component did not set SYNCD_AUTH_TOKEN_FILE", d.Name, c.Name)
					}
				}
			}
		})
	}
}
