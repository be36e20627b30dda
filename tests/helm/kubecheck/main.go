// kubecheck: strict structural check of rendered Kubernetes manifests, offline.
//
// Reads a multi-document YAML stream (helm template output) on stdin and decodes every
// document into the typed Kubernetes API struct of its apiVersion/kind with unknown fields
// rejected, so a misspelt or misplaced field, or a value of the wrong type, fails here instead
// of at `helm install` time on a cluster. Kinds it does not know (CRDs such as ServiceMonitor)
// are reported as skipped. Exit status 1 when any document fails.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	sigyaml "sigs.k8s.io/yaml"
)

func newObject(apiVersion, kind string) any {
	switch apiVersion + "/" + kind {
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}
	case "v1/Service":
		return &corev1.Service{}
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1/Secret":
		return &corev1.Secret{}
	case "v1/PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	}
	return nil
}

func main() {
	reader := yaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	failed, checked := 0, 0
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "read: %v\n", err)
			os.Exit(2)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := sigyaml.Unmarshal(doc, &meta); err != nil {
			fmt.Printf("FAIL <unparsable>: %v\n", err)
			failed++
			continue
		}
		if meta.Kind == "" {
			continue // a comment-only document
		}
		id := fmt.Sprintf("%s/%s %s", meta.APIVersion, meta.Kind, meta.Metadata.Name)
		obj := newObject(meta.APIVersion, meta.Kind)
		if obj == nil {
			fmt.Printf("SKIP %s (kind not known to kubecheck)\n", id)
			continue
		}
		checked++
		if err := sigyaml.UnmarshalStrict(doc, obj); err != nil {
			fmt.Printf("FAIL %s: %v\n", id, err)
			failed++
			continue
		}
		fmt.Printf("ok   %s\n", id)
	}
	fmt.Printf("%d checked, %d failed\n", checked, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
