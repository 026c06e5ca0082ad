// Package kube makes the Kubernetes objects that run capfinder as one
// coordinator and N agents (DESIGN.md, section 5): a ConfigMap with the
// run's spec, a coordinator Job and its Service, an Indexed Job of agents
// with a headless Service, and a ReadWriteMany claim for the run directory
// they share. It builds typed API objects and writes them as YAML; it
// applies nothing and talks to no cluster.
package kube

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/capfinder/capfinder/controller/runner"
	"github.com/capfinder/capfinder/probe/rundir"
)

// The defaults of a Config's zero fields.
const (
	DefaultName      = "capfinder"
	DefaultNamespace = "default"
	DefaultPort      = 7070
	DefaultClaimSize = "10Gi"
)

// Where the pods find the spec and the run directories.
const (
	SpecDir  = "/etc/capfinder"
	SpecFile = SpecDir + "/spec.json"
	BodyFile = SpecDir + "/body"
	RunsDir  = "/runs"
)

// maxConfigMap is the most data a ConfigMap holds.
const maxConfigMap = 1 << 20

// Config is what the objects are made from. Zero fields take the
// defaults named.
type Config struct {
	// Name names the objects (NAME-coordinator, NAME-agents, …) and the
	// run directory on the claim, /runs/NAME; DefaultName by default.
	Name      string
	Namespace string
	// Image is the container image; capfinder must be on its PATH.
	Image string
	// Agents is how many agent pods send the load, at least 1; Port is
	// the coordinator's port they connect to.
	Agents int
	Port   int
	// Claim names an existing ReadWriteMany PersistentVolumeClaim; ""
	// makes one, NAME-runs, of ClaimSize in StorageClass ("" is the
	// cluster's default class).
	Claim        string
	ClaimSize    string
	StorageClass string
	// Secret holds, a key each, the variables the headers' ${VAR}s name;
	// NAME-secrets by default.
	Secret string
	// Spec is the run, checked (rundir.Spec.Check).
	Spec rundir.Spec
	// Body is the one request body (--body, --data-base64), which the
	// ConfigMap holds as the file the spec then names, BodyFile: spec.json
	// cannot hold a literal one, and the pods have not the user's files.
	Body []byte
}

// Objects returns the objects of a run, in the order they are to be
// applied: the ConfigMap, the claim (unless Config.Claim names one), the
// Services, then the Jobs. A header value the run writes as REDACTED in
// run.json must come from ${VAR}: a ConfigMap holds no secret.
func Objects(c Config) ([]runtime.Object, error) {
	newClaim := c.Claim == ""
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkNoSecrets(c.Spec); err != nil {
		return nil, err
	}
	env, err := c.secretEnv()
	if err != nil {
		return nil, err
	}
	spec, err := c.configMap()
	if err != nil {
		return nil, err
	}
	objs := []runtime.Object{spec}
	if newClaim {
		claim, err := c.claim()
		if err != nil {
			return nil, err
		}
		objs = append(objs, claim)
	}
	return append(objs, c.coordinatorService(), c.agentsService(), c.coordinatorJob(env), c.agentsJob(env)), nil
}

// WriteYAML writes objs as one YAML stream, a document each.
func WriteYAML(w io.Writer, objs []runtime.Object) error {
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			return fmt.Errorf("kube: %w", err)
		}
		if _, err := fmt.Fprintf(w, "---\n%s", b); err != nil {
			return err
		}
	}
	return nil
}

// withDefaults fills the zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	c.Name = cmp.Or(c.Name, DefaultName)
	c.Namespace = cmp.Or(c.Namespace, DefaultNamespace)
	c.Port = cmp.Or(c.Port, DefaultPort)
	c.Claim = cmp.Or(c.Claim, c.Name+"-runs")
	c.ClaimSize = cmp.Or(c.ClaimSize, DefaultClaimSize)
	c.Secret = cmp.Or(c.Secret, c.Name+"-secrets")
	switch {
	case c.Agents < 1:
		return c, fmt.Errorf("--agents must be at least 1, got %d", c.Agents)
	case c.Port < 1 || c.Port > 65535:
		return c, fmt.Errorf("--port %d is not a port", c.Port)
	case c.Image == "":
		return c, errors.New("--image is empty")
	}
	// The longest name made from NAME is each Job's, whose pods are
	// named after it.
	for _, n := range []struct{ flag, v string }{
		{"--name", c.Name + "-coordinator"}, {"--name", c.Name + "-agents"}, {"--namespace", c.Namespace},
	} {
		if errs := validation.IsDNS1123Label(n.v); len(errs) > 0 {
			return c, fmt.Errorf("%s: %q cannot name a Kubernetes object: %s", n.flag, n.v, strings.Join(errs, "; "))
		}
	}
	for _, n := range []struct{ flag, v string }{{"--claim", c.Claim}, {"--secret", c.Secret}} {
		if errs := validation.IsDNS1123Subdomain(n.v); len(errs) > 0 {
			return c, fmt.Errorf("%s: %q cannot name a Kubernetes object: %s", n.flag, n.v, strings.Join(errs, "; "))
		}
	}
	return c, nil
}

// checkNoSecrets refuses what run.json would redact, since anyone who
// may read the namespace's ConfigMaps reads the spec: a literal header
// value (one from ${VAR} is read from the Secret), and a URL's password
// or query values.
func checkNoSecrets(s rundir.Spec) error {
	r := s.Redacted()
	for _, k := range slices.Sorted(maps.Keys(s.Header)) {
		for i, v := range s.Header[k] {
			if names, _ := runner.EnvNames(v); r.Header[k][i] != v && len(names) == 0 {
				return fmt.Errorf("header %s: its value would be written in the ConfigMap; give it as ${VAR} (-H '%s: ${VAR}') and put VAR in the Secret", k, k)
			}
		}
	}
	for _, u := range []struct{ what, v, redacted string }{
		{"the target URL", s.URL, r.URL}, {"--server-metrics", s.ServerMetrics, r.ServerMetrics}, {"--data-file", s.DataFile, r.DataFile},
	} {
		if u.v != u.redacted && rundir.HoldsRedacted(u.redacted) {
			return fmt.Errorf("%s holds a password or query values run.json redacts; they would be written in the ConfigMap", u.what)
		}
	}
	return nil
}

// secretEnv is the environment of every container: each variable a
// header's ${VAR} names, from the key of that name in the Secret.
func (c Config) secretEnv() ([]corev1.EnvVar, error) {
	vars := map[string]bool{}
	for k, vs := range c.Spec.Header {
		for _, v := range vs {
			names, err := runner.EnvNames(v)
			if err != nil {
				return nil, fmt.Errorf("header %s: %v", k, err)
			}
			for _, n := range names {
				if errs := validation.IsConfigMapKey(n); len(errs) > 0 {
					return nil, fmt.Errorf("header %s: ${%s} cannot be a key of a Secret: %s", k, n, strings.Join(errs, "; "))
				}
				vars[n] = true
			}
		}
	}
	var env []corev1.EnvVar
	for _, v := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, corev1.EnvVar{Name: v, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: c.Secret}, Key: v},
		}})
	}
	return env, nil
}

// meta names an object of the run and labels it, with the component
// ("coordinator" or "agent") unless it is "".
func (c Config) meta(name, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: c.Namespace, Labels: c.labels(component)}
}

func (c Config) labels(component string) map[string]string {
	l := map[string]string{"app.kubernetes.io/name": "capfinder", "app.kubernetes.io/instance": c.Name}
	if component != "" {
		l["app.kubernetes.io/component"] = component
	}
	return l
}

// configMap holds spec.json and, for a literal body, the body file it
// names.
func (c Config) configMap() (*corev1.ConfigMap, error) {
	s := c.Spec
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: c.meta(c.Name+"-spec", ""),
	}
	if len(c.Body) > 0 {
		s.Body, s.DataBase64, s.BodyFile = "", "", BodyFile
		cm.BinaryData = map[string][]byte{"body": c.Body}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	cm.Data = map[string]string{"spec.json": string(b) + "\n"}
	if n := len(b) + len(c.Body); n > maxConfigMap {
		return nil, fmt.Errorf("the spec and the body, %d bytes, are over the %d a ConfigMap holds; put the body on the claim and give --data-file %s/…", n, maxConfigMap, RunsDir)
	}
	return cm, nil
}

func (c Config) claim() (*corev1.PersistentVolumeClaim, error) {
	size, err := resource.ParseQuantity(c.ClaimSize)
	if err != nil {
		return nil, fmt.Errorf("--claim-size %q: %v", c.ClaimSize, err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: c.meta(c.Claim, ""),
		Spec: corev1.PersistentVolumeClaimSpec{
			// Every agent writes its parts beside the others'.
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
	if c.StorageClass != "" {
		pvc.Spec.StorageClassName = &c.StorageClass
	}
	return pvc, nil
}

func (c Config) coordinatorService() *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: c.meta(c.Name+"-coordinator", "coordinator"),
		Spec: corev1.ServiceSpec{
			Selector: c.labels("coordinator"),
			Ports:    []corev1.ServicePort{{Name: "agents", Port: int32(c.Port), TargetPort: intstr.FromInt32(int32(c.Port))}},
		},
	}
}

// agentsService is the headless Service that gives each agent pod, of
// subdomain NAME-agents, a DNS name.
func (c Config) agentsService() *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: c.meta(c.Name+"-agents", "agent"),
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: c.labels("agent")},
	}
}

// coordinatorJob runs the closed loop: it waits for the agents, plans,
// judges their merged windows and writes the run directory.
func (c Config) coordinatorJob(env []corev1.EnvVar) *batchv1.Job {
	pod := c.pod("coordinator", env, "run", "--spec", SpecFile, "--agents", strconv.Itoa(c.Agents),
		"--agent-listen", fmt.Sprintf(":%d", c.Port), "--out", c.runDir())
	pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "agents", ContainerPort: int32(c.Port)}}
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: c.meta(c.Name+"-coordinator", "coordinator"),
		Spec:       batchv1.JobSpec{BackoffLimit: new(int32(0)), Template: pod},
	}
}

// agentsJob runs agent i of N in the pod of completion index i (Kubernetes
// sets JOB_COMPLETION_INDEX, which capfinder agent reads), spread over the
// nodes where it can be. A failed agent is not replaced: it ends the run,
// which a newcomer could not join.
func (c Config) agentsJob(env []corev1.EnvVar) *batchv1.Job {
	pod := c.pod("agent", env, "agent", "--coordinator", fmt.Sprintf("%s-coordinator.%s.svc:%d", c.Name, c.Namespace, c.Port), "--out", c.runDir())
	pod.Spec.Subdomain = c.Name + "-agents"
	pod.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
		MaxSkew:           1,
		TopologyKey:       "kubernetes.io/hostname",
		WhenUnsatisfiable: corev1.ScheduleAnyway,
		LabelSelector:     &metav1.LabelSelector{MatchLabels: c.labels("agent")},
	}}
	n := int32(c.Agents)
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: c.meta(c.Name+"-agents", "agent"),
		Spec: batchv1.JobSpec{
			CompletionMode: new(batchv1.IndexedCompletion),
			Completions:    &n,
			Parallelism:    &n,
			BackoffLimit:   new(int32(0)),
			Template:       pod,
		},
	}
}

// runDir is the run directory on the claim, the coordinator's and every
// agent's --out.
func (c Config) runDir() string { return RunsDir + "/" + c.Name }

// pod is the pod template of a component: capfinder with args in env,
// the ConfigMap at SpecDir, the claim at RunsDir, never restarted.
func (c Config) pod(component string, env []corev1.EnvVar, args ...string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: c.labels(component)},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:    component,
				Image:   c.Image,
				Command: append([]string{"capfinder"}, args...),
				Env:     env,
				VolumeMounts: []corev1.VolumeMount{
					{Name: "spec", MountPath: SpecDir, ReadOnly: true},
					{Name: "runs", MountPath: RunsDir},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "spec", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: c.Name + "-spec"}}}},
				{Name: "runs", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
					ClaimName: c.Claim}}},
			},
		},
	}
}
