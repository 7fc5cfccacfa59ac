package coalesce

import "github.com/engine-audit/engine/sdk"

//go:generate go run ./internal/gennorm -o znormalize.go

// normalization says how to summarise one kind of event (a syscall or a
// record type): the action, which fields name the actor and the object, and
// the ECS categorisation. The table itself (znormalize.go) is generated from
// go-libaudit's normalizations.
type normalization struct {
	action           string
	objectWhat       string
	objectPathIndex  int
	subjectPrimary   []string
	subjectSecondary []string
	objectPrimary    []string
	objectSecondary  []string
	how              []string
	sourceIP         []string
	hasFields        []string
	ecsKind          string
	ecsCategory      []string
	ecsType          []string
	mappings         []ecsMapping

	// Values for event.category and event.type, built once; the lists
	// are shared by every event and must not be changed.
	categoryValue, typeValue sdk.Value

	// Key ids of the field lists above, resolved at init.
	subjectPrimaryIDs, subjectSecondaryIDs, objectPrimaryIDs, objectSecondaryIDs,
	howIDs, sourceIPIDs, hasFieldsIDs []uint16
}

// mapFrom names the source of an ECS mapping.
type mapFrom uint8

const (
	fromSubjectPrimary mapFrom = iota + 1
	fromSubjectSecondary
	fromObjectPrimary
	fromObjectSecondary
	fromData // a field of the event's data (fromKey)
	fromIDs  // a subject id field (fromKey)
)

// mapTo names the ECS entity an ECS mapping writes.
type mapTo uint8

const (
	toUser mapTo = iota + 1
	toUserEffective
	toUserTarget
	toUserChanges
	toGroup
)

type ecsMapping struct {
	from    mapFrom
	fromKey string
	to      mapTo
	fromID  uint16
}

func initNormalizations() {
	ids := func(names []string) []uint16 {
		out := make([]uint16, len(names))
		for i, n := range names {
			out[i] = keyID(n)
			if out[i] == 0 {
				panic("coalesce: normalization refers to unknown field " + n)
			}
		}
		return out
	}
	for i := range normalizations {
		n := &normalizations[i]
		n.subjectPrimaryIDs = ids(n.subjectPrimary)
		n.subjectSecondaryIDs = ids(n.subjectSecondary)
		n.objectPrimaryIDs = ids(n.objectPrimary)
		n.objectSecondaryIDs = ids(n.objectSecondary)
		n.howIDs = ids(n.how)
		n.sourceIPIDs = ids(n.sourceIP)
		n.hasFieldsIDs = ids(n.hasFields)
		for j := range n.mappings {
			if k := n.mappings[j].fromKey; k != "" {
				n.mappings[j].fromID = ids([]string{k})[0]
			}
		}
		// The event keeps these slices; make appends copy.
		n.ecsCategory = n.ecsCategory[:len(n.ecsCategory):len(n.ecsCategory)]
		n.ecsType = n.ecsType[:len(n.ecsType):len(n.ecsType)]
		if len(n.ecsCategory) > 0 {
			n.categoryValue = sdk.Strings(n.ecsCategory)
		}
		if len(n.ecsType) > 0 {
			n.typeValue = sdk.Strings(n.ecsType)
		}
	}
}

// ecsEntity is an ECS user or group reference: an id, a name, or "unset".
type ecsEntity struct {
	id, name string
}

// set records a value the way aucoalesce does: unset ids mark the entity
// unset, numbers are ids, anything else is a name.
func (e *ecsEntity) set(v string) {
	if v == "" || v == "unset" || v == "4294967295" || v == "-1" {
		*e = ecsEntity{id: "unset"}
		return
	}
	if isUint64(v) {
		e.id = v
	} else {
		e.name = v
	}
}

// isUint64 reports whether strconv.ParseUint(s, 10, 64) would accept s.
func isUint64(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return len(s) < 20 || len(s) == 20 && s <= "18446744073709551615"
}
