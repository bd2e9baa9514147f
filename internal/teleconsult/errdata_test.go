package teleconsult

import (
	"errors"
	"fmt"
	"maps"
	"testing"
)

// TestErrData checks that errData finds the application error's data
// where ErrorCode and ErrorMessage find its code and message: also when the
// error is wrapped.
func TestErrData(t *testing.T) {
	data := map[string]string{"retryAfter": "30"}
	appErr := &Error{Code: EUNAVAILABLE, Message: "Daily is limiting the rate of requests", Data: data}
	for _, tt := range []struct {
		name string
		err  error
		want map[string]string
	}{
		{"nil", nil, nil},
		{"plain error", errors.New("boom"), nil},
		{"application error", appErr, data},
		{"wrapped", fmt.Errorf("directory: %w", appErr), data},
		{"joined", errors.Join(errors.New("other"), appErr), data},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := errData(tt.err); !maps.Equal(got, tt.want) {
				t.Errorf("errData = %v, want %v", got, tt.want)
			}
			if tt.want != nil && ErrorCode(tt.err) != EUNAVAILABLE {
				t.Errorf("ErrorCode = %q: the data and the code come from different errors", ErrorCode(tt.err))
			}
		})
	}
}
