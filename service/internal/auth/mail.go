package auth

import (
	"fmt"

	"gorm.io/gorm"
)

// Mail waits in mail_outbox for a mailer to send it. Nothing in a mail is
// a secret: it says what happened and where to go.
type Mail struct {
	To, Subject, Body string
}

func enqueueMail(tx *gorm.DB, m Mail) error {
	if err := tx.Exec("INSERT INTO mail_outbox (to_email, subject, body) VALUES (?, ?, ?)", m.To, m.Subject, m.Body).Error; err != nil {
		return fmt.Errorf("queue mail: %w", err)
	}
	return nil
}

func welcomeMail(email string) Mail {
	return Mail{To: email, Subject: "Your exchange account is ready",
		Body: "Welcome. An account was created with this address; log in to deposit and trade.\n\nIf this was not you, reply to this mail and we will close it."}
}

func totpMail(email string, on bool) Mail {
	if on {
		return Mail{To: email, Subject: "Two-factor authentication is on",
			Body: "Two-factor authentication was turned on for your account: logging in now takes a code from an authenticator app.\n\nIf this was not you, contact support at once."}
	}
	return Mail{To: email, Subject: "Two-factor authentication is off",
		Body: "Two-factor authentication was turned off for your account.\n\nIf this was not you, contact support at once."}
}

func alreadyRegisteredMail(email string) Mail {
	return Mail{To: email, Subject: "Someone tried to sign up with your address",
		Body: "Somebody tried to create an account with this address, which already has one. Nothing changed.\n\nIf it was you: log in with your existing password. If not, you need do nothing; a strong password and two-factor authentication keep your account safe."}
}
