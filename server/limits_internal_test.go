package server

import (
	"strings"
	"testing"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// TestLimits_TablesNameRealFields: every field the limit tables name exists in the API with
// the kind the table bounds, so a renamed field cannot silently fall back to the defaults.
func TestLimits_TablesNameRealFields(t *testing.T) {
	t.Parallel()
	_ = apiv1.File_cset_api_v1_api_proto
	field := func(name protoreflect.FullName) protoreflect.FieldDescriptor {
		msg, f := name.Parent(), name.Name()
		if strings.HasSuffix(string(name), ".key") { // a map's keys
			msg, f = name.Parent().Parent(), name.Parent().Name()
		}
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(msg)
		if err != nil {
			t.Errorf("%s: no message %s", name, msg)
			return nil
		}
		fd := d.(protoreflect.MessageDescriptor).Fields().ByName(f)
		if fd == nil {
			t.Errorf("%s: no field %s in %s", name, f, msg)
		}
		return fd
	}
	for name := range fieldMaxBytes {
		if fd := field(name); fd != nil && fd.Kind() != protoreflect.StringKind && !(fd.IsMap() && fd.MapValue().Kind() == protoreflect.StringKind) {
			t.Errorf("%s bounds bytes but is a %v", name, fd.Kind())
		}
	}
	for name := range fieldMaxItems {
		if fd := field(name); fd != nil && !fd.IsList() && !fd.IsMap() {
			t.Errorf("%s bounds entries but is not a list or a map", name)
		}
	}
	for name := range fieldMaxValue {
		if fd := field(name); fd != nil && fd.Kind() != protoreflect.Int64Kind && fd.Kind() != protoreflect.Uint32Kind {
			t.Errorf("%s bounds a value but is a %v", name, fd.Kind())
		}
	}
}
