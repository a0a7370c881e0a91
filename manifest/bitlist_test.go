package manifest

import "testing"

func TestBitList(t *testing.T) {
	tests := []struct {
		v    uint32
		want string
	}{
		{0, ""},
		{1, "0"},
		{2, "1"},
		{3, "1..0"},
		{5, "2,0"},
		{0xf, "3..0"},
		{0xf0, "7..4"},
		{0x8000008f, "31,7,3..0"},
		{0x80000000, "31"},
		{0x80000001, "31,0"},
		{0xc0000003, "31..30,1..0"},
		{0x7ffffffe, "30..1"},
		{0xffffffff, "31..0"},
		{0xfffffffe, "31..1"},
		{0x7fffffff, "30..0"},
		{0x00ff00ff, "23..16,7..0"},
		{0xaaaaaaaa, "31,29,27,25,23,21,19,17,15,13,11,9,7,5,3,1"},
		{0x55555555, "30,28,26,24,22,20,18,16,14,12,10,8,6,4,2,0"},
	}
	for _, tt := range tests {
		if got := BitList(tt.v); got != tt.want {
			t.Errorf("BitList(%#08x) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
