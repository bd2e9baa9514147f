package teleconsult

import "testing"

func TestResolveRole(t *testing.T) {
	p := Privileges{
		Basic: Privilege{Groups: []string{"patient", "interpreter"}, Tools: Tools{Chat: true}},
		Plus:  Privilege{Groups: []string{"doctor"}, Tools: AllTools},
	}
	tests := []struct {
		groups []string
		want   Role
		err    bool
	}{
		{[]string{"patient"}, RoleBasic, false},
		{[]string{"doctor"}, RolePlus, false},
		{[]string{"patient", "doctor"}, RolePlus, false}, // plus outranks basic
		{[]string{"doctor", "patient"}, RolePlus, false},
		{[]string{"interpreter"}, RoleBasic, false},
		{[]string{"nurse"}, RoleUnknown, true},
		{[]string{"doctor", "nurse"}, RoleUnknown, true},
		{nil, RoleUnknown, true},
	}
	for _, tt := range tests {
		got, err := p.ResolveRole(tt.groups)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ResolveRole(%v) = %v, %v; want %v, err=%v", tt.groups, got, err, tt.want, tt.err)
		}
		if err != nil && ErrorCode(err) != EINVALID {
			t.Errorf("ResolveRole(%v) code %q, want invalid", tt.groups, ErrorCode(err))
		}
	}
	if got := p.Tools(RoleBasic); got != (Tools{Chat: true}) {
		t.Errorf("basic tools = %+v", got)
	}
	if got := p.Tools(RolePlus); got != AllTools {
		t.Errorf("plus tools = %+v", got)
	}
	if got := p.Tools(RoleUnknown); got != (Tools{}) {
		t.Errorf("unknown role has tools %+v", got)
	}
	for _, r := range []Role{RoleBasic, RolePlus} {
		if ParseRole(r.String()) != r {
			t.Errorf("ParseRole(%q) != %v", r.String(), r)
		}
	}
}
