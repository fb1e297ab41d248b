package settings

import "testing"

func TestCronSchedules(t *testing.T) {
	valid := []string{
		"0 2 * * *", "*/15 * * * *", "0 4 * * 0", "0 4 * * 7", "0 4 * * SUN", "30 1 1,15 * *",
		"0 0-6/2 * * MON-FRI", "0 3 * JAN-MAR *", "@daily", "@weekly", "5/10 * * * *",
	}
	invalid := []string{
		"", "daily", "* * * *", "* * * * * *", "60 * * * *", "0 24 * * *", "0 0 0 * *", "0 0 32 * *",
		"0 0 * 13 *", "0 0 * * 8", "0 0 * * FUNDAY", "5-1 * * * *", "*/0 * * * *", "1,,2 * * * *",
		"CRON_TZ=UTC 0 2 * * *", "@reboot",
	}
	for _, s := range valid {
		if !validCron(s) {
			t.Errorf("validCron(%q) = false, want true", s)
		}
	}
	for _, s := range invalid {
		if validCron(s) {
			t.Errorf("validCron(%q) = true, want false", s)
		}
	}
}
