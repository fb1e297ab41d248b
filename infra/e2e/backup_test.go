//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// How long a manually started backup Job may take, from creation to a
// finished pod: the dump and the restore of the e2e's small database take
// seconds; the rest is a pod start on a shared machine.
const backupJobLimit = 3 * time.Minute

// storeView is the backup store as the backup CronJob's pods see it: the
// endpoint, bucket, region and prefix from its env, the keys from its Secret.
type storeView struct {
	endpoint, bucket, region, prefix string
	pathStyle                        bool
	accessKey, secretKey             string
}

func jobStore(t *testing.T) storeView {
	t.Helper()
	ctx := context.Background()
	cj, err := env.kube.BatchV1().CronJobs(appNS).Get(ctx, "exchange-backup", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("cronjob exchange-backup: %v", err)
	}
	vars := envOf(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0])
	creds, err := env.kube.CoreV1().Secrets(appNS).Get(ctx, "exchange-backup-s3", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("secret exchange-backup-s3: %v", err)
	}
	return storeView{
		endpoint:  vars["BACKUP_S3_ENDPOINT"].Value,
		bucket:    vars["BACKUP_S3_BUCKET"].Value,
		region:    vars["AWS_REGION"].Value,
		prefix:    vars["BACKUP_S3_PREFIX"].Value,
		pathStyle: vars["BACKUP_S3_FORCE_PATH_STYLE"].Value == "true",
		accessKey: string(creds.Data["AWS_ACCESS_KEY_ID"]),
		secretKey: string(creds.Data["AWS_SECRET_ACCESS_KEY"]),
	}
}

func (s storeView) client(secretKey string) *s3.Client {
	return s3.New(s3.Options{
		Region:       s.region,
		BaseEndpoint: aws.String(s.endpoint),
		UsePathStyle: s.pathStyle,
		Credentials:  credentials.NewStaticCredentialsProvider(s.accessKey, secretKey, ""),
	})
}

// keys lists the bucket, signed with the job's credentials.
func (s storeView) keys(t *testing.T) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client(s.secretKey), &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list the backup bucket %s: %v", s.bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// assertBackupJobs runs both backup CronJobs once, as `kubectl create job
// --from=cronjob/...` does, rather than waiting for their schedules: the
// backup pod reaches the store on the node IP and writes a dump and its
// manifest; the verification pod restores that dump into a scratch
// database on the PostgreSQL pod (the role has CREATEDB from the program's
// init script) and its checks pass. The NetworkPolicies (backup egress,
// default deny) are stored but not enforced by the bridge CNI, so this
// proves the jobs' wiring, not that the policies let them through.
func assertBackupJobs(t *testing.T) {
	t.Helper()
	store := jobStore(t)
	before := store.keys(t)

	backupLog := runCronJob(t, "exchange-backup")
	var added []string
	for _, k := range store.keys(t) {
		if !slices.Contains(before, k) {
			added = append(added, k)
		}
	}
	slices.Sort(added)
	// The database name is DATABASE_URL's, "exchange".
	dir := path.Join(store.prefix, "exchange") + "/"
	var dump string
	for _, k := range added {
		if strings.HasPrefix(k, dir) && strings.HasSuffix(k, ".dump") {
			dump = k
		}
	}
	if dump == "" || len(added) != 2 || !slices.Contains(added, strings.TrimSuffix(dump, ".dump")+".manifest.json") {
		t.Fatalf("the backup job added %v to the store, want one %s<time>.dump and its .manifest.json", added, dir)
	}
	location := "s3://" + store.bucket + "/" + dump
	if !strings.Contains(backupLog, location) {
		t.Errorf("the backup job's log does not name %s", location)
	}

	// verify-backup takes the newest backup: the one just written.
	verifyLog := runCronJob(t, "exchange-verify-backup")
	for _, want := range []string{"backup " + location + ",", "backup verified"} {
		if !strings.Contains(verifyLog, want) {
			t.Errorf("the verification job's log lacks %q", want)
		}
	}
}

// runCronJob creates a Job from the CronJob's jobTemplate the way kubectl
// does (its labels and annotations, instantiate=manual, the CronJob as
// controller), waits for it to finish, checks that its one pod ran on the
// real node and exited 0, deletes the Job and returns the pod's log.
func runCronJob(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	jobs := env.kube.BatchV1().Jobs(appNS)
	cj, err := env.kube.BatchV1().CronJobs(appNS).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("cronjob %s: %v", name, err)
	}
	annotations := map[string]string{"cronjob.kubernetes.io/instantiate": "manual"}
	for k, v := range cj.Spec.JobTemplate.Annotations {
		annotations[k] = v
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name + "-manual",
			Namespace:       appNS,
			Labels:          cj.Spec.JobTemplate.Labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, batchv1.SchemeGroupVersion.WithKind("CronJob"))},
		},
		Spec: *cj.Spec.JobTemplate.Spec.DeepCopy(),
	}
	if job, err = jobs.Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create job from cronjob %s: %v", name, err)
	}
	// Deleted as soon as it is read (also when a check fails), not left to
	// destroy: the namespace's deletion would take it too, but the
	// program's own teardown should only meet the program's objects.
	defer func() {
		bg := metav1.DeletePropagationBackground
		if err := jobs.Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete job %s: %v", job.Name, err)
		}
	}()

	start := time.Now()
	var done *batchv1.Job
	for done == nil {
		j, err := jobs.Get(ctx, job.Name, metav1.GetOptions{})
		switch {
		case err != nil:
			t.Fatalf("job %s: %v", job.Name, err)
		case jobComplete(j) || jobFailed(j):
			done = j
		case time.Since(start) > backupJobLimit:
			t.Fatalf("job %s (from cronjob %s) not finished after %s: %+v\n%s", job.Name, name, backupJobLimit, j.Status, jobPodsReport(job.Name))
		default:
			time.Sleep(500 * time.Millisecond)
		}
	}
	t.Logf("job %s (from cronjob %s) finished in %.1fs", job.Name, name, time.Since(start).Seconds())
	if !jobComplete(done) || done.Status.Failed != 0 {
		t.Fatalf("job %s (from cronjob %s): complete %v, %d failed pods: %+v\n%s", job.Name, name, jobComplete(done), done.Status.Failed, done.Status.Conditions, jobPodsReport(job.Name))
	}

	pods, err := env.kube.CoreV1().Pods(appNS).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job.Name})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 {
		t.Fatalf("job %s: %d pods, want 1\n%s", job.Name, len(pods.Items), jobPodsReport(job.Name))
	}
	p := pods.Items[0]
	checker{t, "pod " + p.Name + " (cronjob " + name + ")"}.eq("phase", p.Status.Phase, corev1.PodSucceeded)
	log, ok := finishedPod(t, "cronjob "+name+" pod", &p)
	if !ok {
		t.FailNow()
	}
	return log
}

func jobFailed(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// jobPodsReport is each pod of the job with its status, log tail and
// events, for a failure message.
func jobPodsReport(job string) string {
	ctx := context.Background()
	pods, err := env.kube.CoreV1().Pods(appNS).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	tail := int64(40)
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "pod %s: %s on %q, containers %+v\n", p.Name, p.Status.Phase, p.Spec.NodeName, p.Status.ContainerStatuses)
		if raw, err := env.kube.CoreV1().Pods(appNS).GetLogs(p.Name, &corev1.PodLogOptions{TailLines: &tail}).Do(ctx).Raw(); err == nil {
			fmt.Fprintf(&b, "log:\n%s\n", raw)
		}
		evs, err := env.kube.CoreV1().Events(appNS).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + p.Name})
		if err == nil {
			for _, e := range evs.Items {
				fmt.Fprintf(&b, "  %s %s: %s\n", e.Type, e.Reason, e.Message)
			}
		}
	}
	return b.String()
}

// assertStoreAccess signs requests to the store with the backup CronJob's
// endpoint, bucket and region and the credentials in its Secret, as the
// job would: the store accepts them, and refuses a wrong secret.
func assertStoreAccess(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	store := jobStore(t)
	list := func(secretKey string) error {
		_, err := store.client(secretKey).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(store.bucket)})
		return err
	}
	if err := list(store.secretKey); err != nil {
		t.Errorf("the backup job's store settings and credentials are refused by the store: %v", err)
	}
	if err := list("not-the-secret"); err == nil {
		t.Errorf("the store accepted a wrong secret key; it does not check signatures")
	}
}

// assertBackupCronJobs: both CronJobs' schedule, policy, deadlines, image,
// command and store settings, credentials from the Secrets.
func assertBackupCronJobs(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	kube := env.kube
	s3 := mustURL(t, env.s3URL)
	for _, cj := range []struct{ name, schedule, command string }{
		{"exchange-backup", "0 2 * * *", "backup"},
		{"exchange-verify-backup", "0 4 * * 0", "verify-backup"},
	} {
		got, err := kube.BatchV1().CronJobs(appNS).Get(ctx, cj.name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("cronjob %s: %v", cj.name, err)
			continue
		}
		c := checker{t, "cronjob " + cj.name}
		c.eq("schedule", got.Spec.Schedule, cj.schedule)
		c.eq("timeZone", *got.Spec.TimeZone, "Etc/UTC")
		c.eq("concurrencyPolicy", got.Spec.ConcurrencyPolicy, "Forbid")
		c.eq("startingDeadlineSeconds", *got.Spec.StartingDeadlineSeconds, 600)
		c.eq("activeDeadlineSeconds", *got.Spec.JobTemplate.Spec.ActiveDeadlineSeconds, 3600)
		ctr := got.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
		c.eq("image", ctr.Image, appImage)
		c.eq("args", ctr.Args, []string{cj.command})
		vars := envOf(ctr)
		c.eq("BACKUP_S3_ENDPOINT", vars["BACKUP_S3_ENDPOINT"].Value, s3.String())
		c.eq("BACKUP_S3_BUCKET", vars["BACKUP_S3_BUCKET"].Value, storeBucket)
		c.eq("AWS_REGION", vars["AWS_REGION"].Value, storeRegion)
		c.eq("BACKUP_S3_FORCE_PATH_STYLE", vars["BACKUP_S3_FORCE_PATH_STYLE"].Value, "true")
		c.eq("AWS_ACCESS_KEY_ID", secretRef(vars["AWS_ACCESS_KEY_ID"]), "exchange-backup-s3/AWS_ACCESS_KEY_ID")
		c.eq("PGPASSWORD", secretRef(vars["PGPASSWORD"]), "exchange-db/password")
	}

}
