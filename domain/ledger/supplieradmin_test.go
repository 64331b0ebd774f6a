package ledger_test

import (
	"context"
	"errors"
	"testing"

	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

func supRef[T any](v T) *T { return &v }

func TestPatchSupplierChangesOnlyWhatIsGivenAndReplays(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	before, err := svc.Supplier("sup1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.PatchSupplier(ctx, "sup1", ledger.SupplierPatch{Name: supRef("Renamed"), TPSLimit: supRef(250), DLRGraceS: supRef(600)})
	if err != nil {
		t.Fatal(err)
	}
	want := before
	want.Name, want.TPSLimit, want.DLRGraceS = "Renamed", 250, 600
	if got != want {
		t.Fatalf("after patch\n got %+v\nwant %+v", got, want)
	}
	if pw, err := svc.SupplierPassword("sup1"); err != nil || pw != "pw" {
		t.Fatalf("password kept: %q %v", pw, err)
	}
	// A new password is sealed, never recorded in the clear.
	if _, err := svc.PatchSupplier(ctx, "sup1", ledger.SupplierPatch{Password: supRef("n3w")}); err != nil {
		t.Fatal(err)
	}
	if pw, err := svc.SupplierPassword("sup1"); err != nil || pw != "n3w" {
		t.Fatalf("new password: %q %v", pw, err)
	}
	if sp, _ := svc.Supplier("sup1"); sp.PasswordSealed == "n3w" || sp.PasswordSealed == before.PasswordSealed {
		t.Fatalf("password not sealed anew: %q", sp.PasswordSealed)
	}
	if _, err := svc.PatchSupplier(ctx, "sup1", ledger.SupplierPatch{Enabled: supRef(false)}); err != nil {
		t.Fatal(err)
	}
	after, _ := svc.Supplier("sup1")
	if after.Enabled || after.Name != "Renamed" || after.TPSLimit != 250 {
		t.Fatalf("after disable: %+v", after)
	}
	// A patch with nothing in it records nothing.
	if sp, err := svc.PatchSupplier(ctx, "sup1", ledger.SupplierPatch{}); err != nil || sp != after {
		t.Fatalf("empty patch: %+v %v", sp, err)
	}

	// Replay: a new service on the same log has the same supplier.
	again := ledgertest.Start(t, store, ledger.Options{})
	if sp, err := again.Supplier("sup1"); err != nil || sp != after {
		t.Fatalf("replayed\n got %+v %v\nwant %+v", sp, err, after)
	}
	if pw, err := again.SupplierPassword("sup1"); err != nil || pw != "n3w" {
		t.Fatalf("replayed password: %q %v", pw, err)
	}
}

func TestPatchSupplierValidates(t *testing.T) {
	ctx := context.Background()
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	if _, err := svc.PatchSupplier(ctx, "ghost", ledger.SupplierPatch{Name: supRef("x")}); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("unknown supplier: %v", err)
	}
	long := string(make([]byte, 65))
	for field, p := range map[string]ledger.SupplierPatch{
		"name":            {Name: supRef("")},
		"host":            {Host: supRef("")},
		"port":            {Port: supRef(70000)},
		"system_id":       {SystemID: supRef("seventeen-chars-x")},
		"password":        {Password: &long},
		"binds":           {Binds: supRef(0)},
		"tps_limit":       {TPSLimit: supRef(-1)},
		"window":          {Window: supRef(0)},
		"billing":         {Billing: supRef("monthly")},
		"dlr_grace_s":     {DLRGraceS: supRef(-5)},
		"tls":             {TLSServerName: supRef("smsc.example")}, // without tls: true
		"tls_server_name": {TLS: supRef(true), TLSServerName: supRef(string(make([]byte, 300)))},
	} {
		_, err := svc.PatchSupplier(ctx, "sup1", p)
		var ve *ledger.ValidationError
		if !errors.As(err, &ve) || ve.Field != field {
			t.Errorf("%s: %v, want a validation error of that field", field, err)
		}
	}
	if sp, _ := svc.Supplier("sup1"); sp.Name != "Supplier 1" || sp.Port != 2775 || !sp.Enabled {
		t.Fatalf("an invalid patch changed the supplier: %+v", sp)
	}
}

func TestRoutesAndSupplierCosts(t *testing.T) {
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	if rr := svc.Routes(); len(rr) != 1 || rr[0].Prefix != "49" || len(rr[0].Suppliers) != 1 || rr[0].Suppliers[0] != "sup1" {
		t.Fatalf("routes: %+v", rr)
	}
	cc, err := svc.SupplierCosts("sup1")
	if err != nil || len(cc) != 1 || cc[0].Prefix != "49" || cc[0].Cost.String() != "0.02" {
		t.Fatalf("costs: %+v %v", cc, err)
	}
	if _, err := svc.SupplierCosts("ghost"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("costs of unknown supplier: %v", err)
	}
}
