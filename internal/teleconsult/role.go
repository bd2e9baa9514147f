package teleconsult

import (
	"slices"
)

// Role is a participant's role: plus users organise and join, basic users
// only join. A room needs at least one plus participant.
type Role int

// Roles. The zero value is unknown, so that an unset role is never mistaken
// for basic.
const (
	RoleUnknown Role = iota
	RoleBasic
	RolePlus
)

func (r Role) String() string {
	switch r {
	case RoleBasic:
		return "basic"
	case RolePlus:
		return "plus"
	default:
		return "unknown"
	}
}

// ParseRole parses "basic" or "plus"; anything else is RoleUnknown.
func ParseRole(s string) Role {
	switch s {
	case "basic":
		return RoleBasic
	case "plus":
		return RolePlus
	default:
		return RoleUnknown
	}
}

// ResolveRole returns the role of a user with the given groups: plus if any
// group is a plus group, else basic if any is a basic group ("if a user has
// multiple roles, the higher role will be selected"). A group that no
// privilege lists is an EINVALID error naming it; so is an empty list.
func (p Privileges) ResolveRole(groups []string) (Role, error) {
	if len(groups) == 0 {
		return RoleUnknown, Errorf(EINVALID, "groups: at least one group is required")
	}
	role := RoleUnknown
	for _, g := range groups {
		switch {
		case slices.Contains(p.Plus.Groups, g):
			role = RolePlus
		case slices.Contains(p.Basic.Groups, g):
			if role < RoleBasic {
				role = RoleBasic
			}
		default:
			return RoleUnknown, Errorf(EINVALID, "group %s is not listed in any privileges", Quote(g))
		}
	}
	return role, nil
}

// Tools returns the tools of a role.
func (p Privileges) Tools(r Role) Tools {
	switch r {
	case RolePlus:
		return p.Plus.Tools
	case RoleBasic:
		return p.Basic.Tools
	default:
		return Tools{}
	}
}
