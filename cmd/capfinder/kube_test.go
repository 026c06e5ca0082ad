package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/capfinder/capfinder/controller/runner"
)

// manifests are the objects `capfinder kube` printed, by kind and name.
type manifests struct {
	configMaps map[string]*corev1.ConfigMap
	services   map[string]*corev1.Service
	jobs       map[string]*batchv1.Job
	claims     map[string]*corev1.PersistentVolumeClaim
}

// decodeManifests decodes each document of a YAML stream strictly into
// the typed object of its kind: a field the API does not have fails.
func decodeManifests(t *testing.T, stream string) manifests {
	t.Helper()
	m := manifests{map[string]*corev1.ConfigMap{}, map[string]*corev1.Service{}, map[string]*batchv1.Job{}, map[string]*corev1.PersistentVolumeClaim{}}
	for i, doc := range strings.Split(strings.TrimPrefix(stream, "---\n"), "\n---\n") {
		strict := func(obj any) {
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("document %d: %v\n%s", i, err, doc)
			}
		}
		// The kind says which type to decode the document into, strictly.
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 ConfigMap":
			o := &corev1.ConfigMap{}
			strict(o)
			m.configMaps[o.Name] = o
		case "v1 Service":
			o := &corev1.Service{}
			strict(o)
			m.services[o.Name] = o
		case "v1 PersistentVolumeClaim":
			o := &corev1.PersistentVolumeClaim{}
			strict(o)
			m.claims[o.Name] = o
		case "batch/v1 Job":
			o := &batchv1.Job{}
			strict(o)
			m.jobs[o.Name] = o
		default:
			t.Fatalf("document %d is a %s %s", i, tm.APIVersion, tm.Kind)
		}
	}
	return m
}

// runKube runs `capfinder kube args...` and decodes what it prints.
func runKube(t *testing.T, args ...string) manifests {
	t.Helper()
	code, stdout, stderr := runCLI(t, context.Background(), append([]string{"kube"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	return decodeManifests(t, stdout)
}

func TestKubeManifests(t *testing.T) {
	t.Setenv("CAPFINDER_TEST_TOKEN", "s3cr3t")
	run := []string{"--max-rt", "100ms", "--seed", "3", "-H", "Authorization: Bearer ${CAPFINDER_TEST_TOKEN}", "-H", "Accept: text/plain"}
	url := "http://shop.prod.svc:8080/predict"
	m := runKube(t, append(run, "--agents", "5", "--name", "shop", "--namespace", "load", "--port", "7171", url)...)
	want, err := specOf(t, append(run, url)...)
	if err != nil {
		t.Fatal(err)
	}

	// The ConfigMap's spec.json is the spec run would run, ${VAR} and all.
	cm := m.configMaps["shop-spec"]
	if cm == nil {
		t.Fatalf("no ConfigMap shop-spec among %v", slices.Collect(maps.Keys(m.configMaps)))
	}
	var got runner.Spec
	if err := json.Unmarshal([]byte(cm.Data["spec.json"]), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("spec.json holds\n%+v\nwant the flags' spec\n%+v", got, want)
	}

	coord, agents := m.jobs["shop-coordinator"], m.jobs["shop-agents"]
	coordSvc, agentsSvc := m.services["shop-coordinator"], m.services["shop-agents"]
	if coord == nil || agents == nil || coordSvc == nil || agentsSvc == nil {
		t.Fatalf("jobs %v, services %v", slices.Collect(maps.Keys(m.jobs)), slices.Collect(maps.Keys(m.services)))
	}
	// The agents: one Indexed Job of 5 pods, none restarted or replaced,
	// whose subdomain is the headless Service that selects them.
	as := agents.Spec
	if as.CompletionMode == nil || *as.CompletionMode != batchv1.IndexedCompletion || *as.Completions != 5 || *as.Parallelism != 5 {
		t.Errorf("agents: completion mode %v, completions %v, parallelism %v; want Indexed, 5, 5", deref(as.CompletionMode), deref(as.Completions), deref(as.Parallelism))
	}
	if as.Template.Spec.Subdomain != agentsSvc.Name || agentsSvc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("agents' subdomain %q, Service %s of cluster IP %q: want the headless Service's name", as.Template.Spec.Subdomain, agentsSvc.Name, agentsSvc.Spec.ClusterIP)
	}
	for _, job := range []*batchv1.Job{coord, agents} {
		if job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 0 || job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("%s: backoffLimit %v, restartPolicy %q; want 0 and Never", job.Name, deref(job.Spec.BackoffLimit), job.Spec.Template.Spec.RestartPolicy)
		}
	}
	if tsc := as.Template.Spec.TopologySpreadConstraints; len(tsc) != 1 || tsc[0].TopologyKey != "kubernetes.io/hostname" {
		t.Errorf("agents are not spread over the nodes: %+v", tsc)
	}
	checkSelects(t, agentsSvc, agents)
	checkSelects(t, coordSvc, coord)

	// The command lines: the coordinator listens where its Service sends
	// the agents, who name that Service.
	cc, ac := container(t, coord), container(t, agents)
	wantCoord := []string{"capfinder", "run", "--spec", "/etc/capfinder/spec.json", "--agents", "5", "--agent-listen", ":7171", "--out", "/runs/shop"}
	if !slices.Equal(cc.Command, wantCoord) {
		t.Errorf("coordinator command %q, want %q", cc.Command, wantCoord)
	}
	if p := coordSvc.Spec.Ports; len(p) != 1 || p[0].Port != 7171 || p[0].TargetPort.IntValue() != 7171 {
		t.Errorf("coordinator Service ports %+v, want 7171", p)
	}
	wantAgent := []string{"capfinder", "agent", "--coordinator", "shop-coordinator.load.svc:7171", "--out", "/runs/shop"}
	if !slices.Equal(ac.Command, wantAgent) {
		t.Errorf("agent command %q, want %q", ac.Command, wantAgent)
	}

	// Every container reads the header's variable from the Secret, and
	// mounts the spec and the claim.
	claim := m.claims["shop-runs"]
	if claim == nil || !slices.Equal(claim.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}) {
		t.Fatalf("claim shop-runs %+v, want ReadWriteMany", claim)
	}
	for _, job := range []*batchv1.Job{coord, agents} {
		c := container(t, job)
		wantEnv := []corev1.EnvVar{{Name: "CAPFINDER_TEST_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "shop-secrets"}, Key: "CAPFINDER_TEST_TOKEN"}}}}
		if !reflect.DeepEqual(c.Env, wantEnv) {
			t.Errorf("%s's environment %+v, want the token from the Secret", job.Name, c.Env)
		}
		mounts := map[string]string{}
		for _, v := range job.Spec.Template.Spec.Volumes {
			switch {
			case v.ConfigMap != nil:
				mounts[v.Name] = "configmap " + v.ConfigMap.Name
			case v.PersistentVolumeClaim != nil:
				mounts[v.Name] = "claim " + v.PersistentVolumeClaim.ClaimName
			}
		}
		for _, vm := range c.VolumeMounts {
			mounts[vm.MountPath] = mounts[vm.Name]
		}
		if mounts["/etc/capfinder"] != "configmap shop-spec" || mounts["/runs"] != "claim shop-runs" {
			t.Errorf("%s mounts %v", job.Name, mounts)
		}
	}
	for _, o := range []metav1.Object{cm, claim, coord, agents, coordSvc, agentsSvc} {
		if l := o.GetLabels(); l["app.kubernetes.io/name"] != "capfinder" || l["app.kubernetes.io/instance"] != "shop" || o.GetNamespace() != "load" {
			t.Errorf("%s: labels %v, namespace %q", o.GetName(), l, o.GetNamespace())
		}
	}
	if strings.Contains(cm.Data["spec.json"], "s3cr3t") {
		t.Error("the ConfigMap holds the secret")
	}
}

// A claim that exists is used, not made.
func TestKubeExistingClaim(t *testing.T) {
	m := runKube(t, "--agents", "2", "--claim", "shared", "http://shop:8080/")
	if len(m.claims) != 0 {
		t.Errorf("a claim was made beside the existing one: %v", slices.Collect(maps.Keys(m.claims)))
	}
	for _, job := range m.jobs {
		if v := job.Spec.Template.Spec.Volumes; v[1].PersistentVolumeClaim.ClaimName != "shared" {
			t.Errorf("%s mounts %+v, want the claim shared", job.Name, v)
		}
	}
}

// The body, given as text, base64 or a file, travels in the ConfigMap as
// the file the spec names.
func TestKubeCarriesTheBody(t *testing.T) {
	body := `{"sku": 42}`
	file := filepath.Join(t.TempDir(), "request.json")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, given := range [][]string{{"--body", body}, {"--data-base64", base64.StdEncoding.EncodeToString([]byte(body))}, {"--body", "@" + file}} {
		m := runKube(t, append(given, "--agents", "2", "http://shop:8080/")...)
		cm := m.configMaps["capfinder-spec"]
		var s runner.Spec
		if err := json.Unmarshal([]byte(cm.Data["spec.json"]), &s); err != nil {
			t.Fatal(err)
		}
		if s.BodyFile != "/etc/capfinder/body" || s.DataBase64 != "" || string(cm.BinaryData["body"]) != body {
			t.Errorf("%s: body file %q, base64 %q, ConfigMap body %q", given[0], s.BodyFile, s.DataBase64, cm.BinaryData["body"])
		}
	}
}

func TestKubeRefuses(t *testing.T) {
	t.Setenv("CAPFINDER_TEST_TOKEN", "s3cr3t")
	url := "http://shop:8080/"
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"a literal Authorization header", []string{"--agents", "2", "-H", "Authorization: Bearer abc", url}, "kube: header Authorization: its value would be written in the ConfigMap"},
		{"a literal header of another name", []string{"--agents", "2", "-H", "X-Tenant-Key: abc", url}, "header X-Tenant-Key"},
		{"a password in the URL", []string{"--agents", "2", "http://u:pw@shop:8080/"}, "the target URL holds a password"},
		{"no agents", []string{url}, "--agents must be at least 1"},
		{"a bad run option", []string{"--agents", "2", "--max-rt", "-1s", url}, "kube: --max-rt must not be negative"},
		{"a name Kubernetes refuses", []string{"--agents", "2", "--name", "Shop_1", url}, `--name: "Shop_1-coordinator" cannot name`},
		{"a claim size with an existing claim", []string{"--agents", "2", "--claim", "shared", "--claim-size", "1Gi", url}, "--claim names a claim that exists"},
		{"a bad claim size", []string{"--agents", "2", "--claim-size", "lots", url}, `--claim-size "lots"`},
		{"a missing body file", []string{"--agents", "2", "--body", "@/nonexistent/request.json", url}, "kube: --body: open /nonexistent/request.json"},
		{"a body too large for a ConfigMap", []string{"--agents", "2", "--body", strings.Repeat("x", 1<<20), url}, "over the 1048576 a ConfigMap holds"},
		{"an option of a local run", []string{"--agents", "2", "--spawn", url}, "flag provided but not defined: -spawn"},
		{"a variable no Secret key can be", []string{"--agents", "2", "-H", "Authorization: ${A B}", url}, "${A B}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("A B", "x")
			code, stdout, stderr := runCLI(t, context.Background(), append([]string{"kube"}, c.args...)...)
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want exit %d naming %q, and nothing printed\n%s", code, stderr, exitUsage, c.want, stdout)
			}
		})
	}
}

// checkSelects checks that svc selects the pods of job.
func checkSelects(t *testing.T, svc *corev1.Service, job *batchv1.Job) {
	t.Helper()
	labels := job.Spec.Template.Labels
	for k, v := range svc.Spec.Selector {
		if labels[k] != v {
			t.Errorf("Service %s selects %s=%s; %s's pods have %v", svc.Name, k, v, job.Name, labels)
		}
	}
}

// deref is what p points to, nil for nil.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// container is the one container of job's pods.
func container(t *testing.T, job *batchv1.Job) corev1.Container {
	t.Helper()
	if cs := job.Spec.Template.Spec.Containers; len(cs) == 1 {
		return cs[0]
	}
	t.Fatalf("%s has %d containers, want 1", job.Name, len(job.Spec.Template.Spec.Containers))
	return corev1.Container{}
}
