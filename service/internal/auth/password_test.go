package auth

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not argon2id with the chosen parameters", h)
	}
	if ok, err := verifyPassword(h, "correct horse battery staple"); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, _ := verifyPassword(h, "correct horse battery stapl"); ok {
		t.Fatal("wrong password accepted")
	}
	h2, _ := hashPassword("correct horse battery staple")
	if h == h2 {
		t.Fatal("two hashes of one password must differ (salt)")
	}
	for _, bad := range []string{"", "$2a$12$abc", "$argon2id$v=19$m=1,t=1,p=1$!!!$abc"} {
		if _, err := verifyPassword(bad, "x"); err == nil {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
}

func TestScopes(t *testing.T) {
	s, canonical, err := ParseScopes([]string{"withdraw", "read", "read"})
	if err != nil || canonical != "read,withdraw" || s != ScopeRead|ScopeWithdraw {
		t.Fatalf("%v %q %v", s, canonical, err)
	}
	if _, _, err := ParseScopes([]string{"admin"}); err == nil {
		t.Fatal("unknown scope accepted")
	}
}
