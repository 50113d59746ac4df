package mqtt

import (
	"encoding/json"
	"strings"
)

// Availability payloads, as Home Assistant expects them by default.
const (
	payloadOnline  = "online"
	payloadOffline = "offline"
)

// topics builds every topic from the (validated) prefixes. Source, zone
// and label arguments are topic levels already (see TopicLevel).
type topics struct {
	prefix     string // e.g. "visiongate"
	discPrefix string // e.g. "homeassistant"
	node       string // discovery node id: the prefix as one level
}

func newTopics(o Options) topics {
	return topics{prefix: o.TopicPrefix, discPrefix: o.DiscoveryPrefix, node: TopicLevel(o.TopicPrefix)}
}

func (t topics) availability() string { return t.prefix + "/availability" }

func (t topics) events(src string) string { return t.prefix + "/" + src + "/events" }

func (t topics) count(src string, k countKey) string {
	return t.prefix + "/" + src + "/" + k.zone + "/" + k.label
}

// objectID is the sensor's id within the node: source_zone_label.
func (t topics) objectID(src string, k countKey) string {
	return src + "_" + k.zone + "_" + k.label
}

func (t topics) discovery(src string, k countKey) string {
	return t.discPrefix + "/sensor/" + t.node + "/" + t.objectID(src, k) + "/config"
}

// haSensor is a Home Assistant MQTT discovery config for one count.
type haSensor struct {
	Name              string   `json:"name"`
	UniqueID          string   `json:"unique_id"`
	StateTopic        string   `json:"state_topic"`
	AvailabilityTopic string   `json:"availability_topic"`
	Unit              string   `json:"unit_of_measurement"`
	StateClass        string   `json:"state_class"`
	Icon              string   `json:"icon"`
	Device            haDevice `json:"device"`
}

type haDevice struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
}

// discoveryConfig is the config of count k of source (src is its level);
// names shown to users keep their original spelling.
func discoveryConfig(t topics, source, src string, k countKey, v countVal) []byte {
	c := haSensor{
		Name:              strings.Join([]string{source, v.zone, v.label}, " "),
		UniqueID:          t.node + "_" + t.objectID(src, k),
		StateTopic:        t.count(src, k),
		AvailabilityTopic: t.availability(),
		Unit:              "objects",
		StateClass:        "measurement",
		Icon:              icon(k.label),
		Device: haDevice{
			Identifiers:  []string{t.node + "_" + src},
			Name:         "visiongate " + source,
			Manufacturer: "visiongate",
		},
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic("mqtt: marshal discovery config: " + err.Error()) // only strings: cannot fail
	}
	return b
}

// icon picks a Material Design icon for a COCO label.
func icon(label string) string {
	switch strings.ToLower(label) {
	case "person":
		return "mdi:account-multiple"
	case "car", "truck", "bus":
		return "mdi:car-multiple"
	case "bicycle", "motorcycle":
		return "mdi:bicycle"
	case "dog", "cat", "bird", "horse":
		return "mdi:paw"
	}
	return "mdi:counter"
}
