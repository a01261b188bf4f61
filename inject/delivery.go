package inject

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// DeliveryKey is the pod template annotation that says how podseq reaches
// the pod's containers: init-container or image-volume. --delivery
// overrides it; inject writes the value it used back, as for the mode.
const DeliveryKey = "podseq.dev/delivery"

// Delivery is how the podseq executable reaches the containers that run it.
// Either way it is at Bin, on the volume BinVolume mounted read-only at
// BinDir, so that hooks and wrapped commands are the same.
type Delivery string

// The deliveries.
const (
	// InitContainer: the init container InstallContainer copies podseq from
	// its image into the emptyDir BinVolume. Any Kubernetes version; the
	// default.
	InitContainer Delivery = "init-container"
	// ImageVolume: BinVolume is a volume of type image, the podseq image
	// itself (its /podseq is BinDir/podseq), pulled if not present: no init
	// container, no copy, nothing written to the node's disk. See
	// ImageVolumeNeeds.
	ImageVolume Delivery = "image-volume"
)

// ImageVolumePullPolicy is the pullPolicy of the image volume: an image
// already on the node (a tag or a digest) is used as it is.
const ImageVolumePullPolicy = "IfNotPresent"

// ImageVolumeNeeds is what the image-volume delivery needs of the cluster,
// one line for stderr whenever inject writes it.
const ImageVolumeNeeds = "podseq.dev/delivery image-volume needs Kubernetes 1.35 or later (on 1.33 and 1.34 only with the ImageVolume feature gate on in the API server and every kubelet) and containerd 2.1 or later or CRI-O 1.31 or later on every node; elsewhere the API server drops the volume without a word or the pod never starts (ContainerCreating, CreateContainerError: docs/delivery.md): use init-container there"

// ParseDelivery parses a delivery's name.
func ParseDelivery(s string) (Delivery, error) {
	switch d := Delivery(s); d {
	case InitContainer, ImageVolume:
		return d, nil
	}
	return "", fmt.Errorf("unknown delivery %q: want init-container or image-volume", s)
}

// withDelivery adds the delivery the pod asks for (its annotation as the
// input shows it) or the options override, to the settings inject reads
// and writes back.
func withDelivery(s settings, shown map[string]string, o *Options) {
	if d, ok := shown[DeliveryKey]; ok {
		s[DeliveryKey] = d
	}
	if o.Delivery != "" {
		s[DeliveryKey] = string(o.Delivery)
	}
}

// delivery returns the pod's delivery from its settings: init-container
// unless asked otherwise.
func (p *pod) delivery(s settings) (Delivery, error) {
	v, ok := s[DeliveryKey]
	if !ok {
		return InitContainer, nil
	}
	d, err := ParseDelivery(v)
	if err != nil {
		return "", p.errf("", "%s: %v", DeliveryKey, err)
	}
	return d, nil
}

// deliver brings podseq into the pod: the install init container and its
// emptyDir, or the podseq image as a volume; and tombstone mode's
// graveyard.
func (in *injector) deliver() {
	if in.delivery != ImageVolume {
		in.install()
		return
	}
	p := in.p
	in.imageVolume = true
	vols := in.ensure(p.spec, "volumes", "volumes", yaml.SequenceNode)
	vols.Content = append(vols.Content, mapping("name", BinVolume,
		"image", mapping("reference", in.o.image(), "pullPolicy", ImageVolumePullPolicy)))
	if p.mode == Tombstone {
		vols.Content = append(vols.Content, mapping("name", GraveyardVolume, "emptyDir", mapping()))
	}
}
