package kube_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/capfinder/capfinder/cmd/capfinder/kube"
	"github.com/capfinder/capfinder/probe/rundir"
)

func Example() {
	spec := rundir.Spec{URL: "http://shop.prod:8080/predict", Mode: rundir.ModeAuto, MaxRT: 100 * time.Millisecond}
	objs, err := kube.Objects(kube.Config{Name: "shop", Image: "registry.example.com/capfinder:v1", Agents: 4, Spec: spec})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range objs {
		fmt.Println(o.GetObjectKind().GroupVersionKind().Kind, o.(metav1.Object).GetName())
	}
	// Output:
	// ConfigMap shop-spec
	// PersistentVolumeClaim shop-runs
	// Service shop-coordinator
	// Service shop-agents
	// Job shop-coordinator
	// Job shop-agents
}

// byName files objs by kind and name.
func byName(objs []runtime.Object) map[string]runtime.Object {
	m := map[string]runtime.Object{}
	for _, o := range objs {
		m[o.GetObjectKind().GroupVersionKind().Kind+" "+o.(metav1.Object).GetName()] = o
	}
	return m
}

// Zero fields take their defaults; a storage class is asked for by name.
func TestObjectsDefaults(t *testing.T) {
	spec := rundir.Spec{URL: "http://shop:8080/", Header: map[string][]string{"Authorization": {"Bearer ${TOKEN}"}}}
	objs, err := kube.Objects(kube.Config{Image: "capfinder:v1", Agents: 1, StorageClass: "nfs", Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	m := byName(objs)
	claim := m["PersistentVolumeClaim capfinder-runs"].(*corev1.PersistentVolumeClaim)
	if size := claim.Spec.Resources.Requests[corev1.ResourceStorage]; size.String() != kube.DefaultClaimSize || *claim.Spec.StorageClassName != "nfs" {
		t.Errorf("claim of %s in class %v, want %s in nfs", size.String(), claim.Spec.StorageClassName, kube.DefaultClaimSize)
	}
	agents := m["Job capfinder-agents"].(*batchv1.Job).Spec.Template.Spec.Containers[0]
	if got := strings.Join(agents.Command, " "); got != "capfinder agent --coordinator capfinder-coordinator.default.svc:7070 --out /runs/capfinder" {
		t.Errorf("agent command %q", got)
	}
	if env := agents.Env; len(env) != 1 || env[0].ValueFrom.SecretKeyRef.Name != "capfinder-secrets" || env[0].ValueFrom.SecretKeyRef.Key != "TOKEN" {
		t.Errorf("agent environment %+v, want TOKEN from capfinder-secrets", env)
	}
}

// What run.json would redact never goes into the ConfigMap; what it
// writes may.
func TestObjectsKeepSecretsOut(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*rundir.Spec)
		want string // "" when accepted
	}{
		{"a header from the environment", func(s *rundir.Spec) { s.Header = map[string][]string{"X-Api-Key": {"${KEY}"}} }, ""},
		{"a harmless header", func(s *rundir.Spec) { s.Header = map[string][]string{"Content-Type": {"application/json"}} }, ""},
		{"a harmless query", func(s *rundir.Spec) { s.URL = "http://shop:8080/?model=m1&api-version=2" }, ""},
		{"a literal cookie", func(s *rundir.Spec) { s.Header = map[string][]string{"Cookie": {"session=abc"}} }, "header Cookie"},
		{"a key in the query", func(s *rundir.Spec) { s.URL = "http://shop:8080/?api_key=abc" }, "the target URL"},
		{"a presigned data file", func(s *rundir.Spec) { s.DataFile = "https://bucket/x?X-Amz-Signature=abc" }, "--data-file"},
		{"a password for the metrics", func(s *rundir.Spec) { s.ServerMetrics = "http://u:pw@shop:8000/metrics" }, "--server-metrics"},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := rundir.Spec{URL: "http://shop:8080/"}
			c.edit(&spec)
			_, err := kube.Objects(kube.Config{Image: "capfinder:v1", Agents: 2, Spec: spec})
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v, want one naming %q", err, c.want)
			}
		})
	}
}
