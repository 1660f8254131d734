#!/usr/bin/env python3
"""Generate a deterministic corpus of Kubernetes manifests for the audit benchmark.

Usage: gen_k8s_corpus.py OUTDIR [--docs 10000] [--files 500] [--seed 1]

Documents have realistic shapes (Deployments, StatefulSets, DaemonSets, CronJobs, Jobs,
Services, Ingresses, NetworkPolicies, ServiceAccounts, Roles/RoleBindings, ConfigMaps),
a mix of hardened and careless settings, several documents per file separated by `---`,
Helm-style `# Source:` comments. Standard library only.
"""
import argparse
import os
import random

APPS = ["order-gateway", "market-data", "risk-engine", "pricing", "positions", "fix-bridge",
        "settlement", "ledger", "quote-cache", "audit-log", "reporting", "auth", "frontend"]
IMAGES = ["nginx:1.27", "redis:7.2", "postgres:16", "busybox", "registry.example.com/{app}:latest",
          "registry.example.com/{app}:2.{n}.1",
          "registry.example.com/{app}:2.{n}.1@sha256:" + "ab" * 32]


def container(r, app, i):
    img = r.choice(IMAGES).format(app=app, n=r.randint(0, 9))
    hardened = r.random() < 0.5
    lines = [
        f"      - name: {app}-{i}",
        f"        image: {img}",
        "        imagePullPolicy: IfNotPresent",
        "        ports:",
        f"        - containerPort: {r.choice([8080, 8443, 9090, 5432, 6379])}",
        "          name: http",
        "          protocol: TCP",
    ]
    if r.random() < 0.1:
        lines.append(f"          hostPort: {r.randint(30000, 32000)}")
    lines += [
        "        env:",
        "        - name: LOG_LEVEL",
        "          value: info",
        "        - name: POD_NAME",
        "          valueFrom:",
        "            fieldRef:",
        "              fieldPath: metadata.name",
    ]
    if r.random() < 0.15:
        lines += ["        - name: DB_PASSWORD", f"          value: hunter{r.randint(1, 99)}"]
    if r.random() < 0.3:
        lines += ["        - name: API_TOKEN", "          valueFrom:", "            secretKeyRef:",
                  f"              name: {app}-secrets", "              key: token"]
    lines += [
        "        resources:",
        "          requests: {cpu: 100m, memory: 128Mi}",
        "          limits: {cpu: \"1\", memory: 512Mi}",
        "        readinessProbe:",
        "          httpGet: {path: /healthz, port: http}",
        "          periodSeconds: 10",
        "        livenessProbe:",
        "          httpGet: {path: /livez, port: http}",
        "        volumeMounts:",
        "        - name: config",
        f"          mountPath: /etc/{app}",
        "          readOnly: true",
        "        - name: tmp",
        "          mountPath: /tmp",
    ]
    if hardened:
        lines += [
            "        securityContext:",
            "          allowPrivilegeEscalation: false",
            "          readOnlyRootFilesystem: true",
            "          runAsNonRoot: true",
            "          runAsUser: 10001",
            "          capabilities:",
            "            drop: [ALL]",
            "          seccompProfile:",
            "            type: RuntimeDefault",
        ]
    elif r.random() < 0.3:
        lines += ["        securityContext:", "          privileged: true",
                  "          capabilities:", "            add: [NET_ADMIN, SYS_TIME]"]
    return lines


def pod_spec(r, app, indent):
    lines = [
        "    spec:",
        f"      serviceAccountName: {app}" if r.random() < 0.7 else "      automountServiceAccountToken: true",
        "      securityContext:",
        "        fsGroup: 10001",
    ]
    if r.random() < 0.2:
        lines.append("      hostNetwork: true")
    if r.random() < 0.3:
        lines += ["      initContainers:"] + container(r, app, 0)
    lines += ["      containers:"]
    for i in range(r.randint(1, 3)):
        lines += container(r, app, i + 1)
    lines += ["      volumes:", "      - name: config", "        configMap:", f"          name: {app}-config",
              "      - name: tmp", "        emptyDir:", "          medium: Memory"]
    if r.random() < 0.05:
        lines += ["      - name: docker", "        hostPath:", "          path: /var/run/docker.sock"]
    return ["  " * indent + l if indent else l for l in lines]


def workload(r, kind, app, ns):
    head = [f"apiVersion: {'batch/v1' if kind in ('CronJob', 'Job') else 'apps/v1'}", f"kind: {kind}",
            "metadata:", f"  name: {app}", f"  namespace: {ns}", "  labels:", f"    app: {app}",
            "    app.kubernetes.io/part-of: trading", "spec:"]
    tmpl = ["  template:", "    metadata:", "      labels:", f"        app: {app}",
            "      annotations:", "        prometheus.io/scrape: \"true\""]
    if kind == "CronJob":
        return head + ["  schedule: \"*/5 * * * *\"", "  jobTemplate:", "    spec:", "      template:",
                       "        metadata:", "          labels:", f"            app: {app}"] + \
            ["    " + l for l in pod_spec(r, app, 0)] + ["            restartPolicy: OnFailure"]
    extra = []
    if kind in ("Deployment", "StatefulSet"):
        extra = [f"  replicas: {r.randint(1, 5)}"]
    if kind == "StatefulSet":
        extra.append(f"  serviceName: {app}")
    sel = ["  selector:", "    matchLabels:", f"      app: {app}"] if kind != "Job" else []
    return head + extra + sel + tmpl + pod_spec(r, app, 0)


def service(r, app, ns):
    t = r.choice(["ClusterIP"] * 6 + ["LoadBalancer", "NodePort"])
    return ["apiVersion: v1", "kind: Service", "metadata:", f"  name: {app}", f"  namespace: {ns}", "spec:",
            f"  type: {t}", "  selector:", f"    app: {app}", "  ports:", "  - name: http", "    port: 80",
            "    targetPort: http"]


def netpol(r, app, ns):
    if r.random() < 0.3:
        return ["apiVersion: networking.k8s.io/v1", "kind: NetworkPolicy", "metadata:", "  name: default-deny",
                f"  namespace: {ns}", "spec:", "  podSelector: {}", "  policyTypes: [Ingress, Egress]"]
    return ["apiVersion: networking.k8s.io/v1", "kind: NetworkPolicy", "metadata:", f"  name: {app}-allow",
            f"  namespace: {ns}", "spec:", "  podSelector:", "    matchLabels:", f"      app: {app}",
            "  ingress:", "  - from:", "    - podSelector:", "        matchExpressions:",
            "        - {key: app, operator: In, values: [frontend, order-gateway]}", "    ports:",
            "    - port: 8080"]


def rbac(r, app, ns):
    verbs = r.choice(["[get, list, watch]", "[\"*\"]", "[get, create, bind]"])
    res = r.choice(["[configmaps]", "[secrets]", "[pods, services]", "[\"*\"]"])
    return ["apiVersion: rbac.authorization.k8s.io/v1", "kind: Role", "metadata:", f"  name: {app}",
            f"  namespace: {ns}", "rules:", "- apiGroups: [\"\"]", f"  resources: {res}", f"  verbs: {verbs}",
            "---", "apiVersion: rbac.authorization.k8s.io/v1", "kind: RoleBinding", "metadata:",
            f"  name: {app}", f"  namespace: {ns}", "roleRef:", "  apiGroup: rbac.authorization.k8s.io",
            "  kind: Role", f"  name: {app}", "subjects:", "- kind: ServiceAccount", f"  name: {app}",
            f"  namespace: {ns}"]


def configmap(r, app, ns):
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", f"  name: {app}-config", f"  namespace: {ns}",
             "data:"]
    for i in range(r.randint(3, 12)):
        lines.append(f"  key{i}: \"value-{r.randint(0, 10**6)}\"")
    return lines


def ingress(r, app, ns):
    lines = ["apiVersion: networking.k8s.io/v1", "kind: Ingress", "metadata:", f"  name: {app}",
             f"  namespace: {ns}", "spec:"]
    if r.random() < 0.6:
        lines += ["  tls:", f"  - hosts: [{app}.example.com]", f"    secretName: {app}-tls"]
    lines += ["  rules:", f"  - host: {app}.example.com", "    http:", "      paths:", "      - path: /",
              "        pathType: Prefix", "        backend:", "          service:", f"            name: {app}",
              "            port: {number: 80}"]
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--docs", type=int, default=10000)
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    r = random.Random(a.seed)
    os.makedirs(a.outdir, exist_ok=True)
    per_file = a.docs // a.files
    total_docs = total_bytes = 0
    makers = [lambda app, ns: workload(r, "Deployment", app, ns)] * 4 + [
        lambda app, ns: workload(r, "StatefulSet", app, ns),
        lambda app, ns: workload(r, "CronJob", app, ns),
        lambda app, ns: service(r, app, ns), lambda app, ns: service(r, app, ns),
        lambda app, ns: netpol(r, app, ns), lambda app, ns: rbac(r, app, ns),
        lambda app, ns: configmap(r, app, ns), lambda app, ns: configmap(r, app, ns),
        lambda app, ns: ingress(r, app, ns)]
    for f in range(a.files):
        ns = f"team-{f % 25}"
        docs = []
        n = 0
        while n < per_file:
            app = f"{r.choice(APPS)}-{r.randint(0, 999)}"
            doc = r.choice(makers)(app, ns)
            n += 1 + doc.count("---")
            docs.append(f"# Source: trading/templates/{app}.yaml\n" + "\n".join(doc) + "\n")
        text = "---\n".join(docs)
        path = os.path.join(a.outdir, f"release-{f:04d}.yaml")
        with open(path, "w") as fh:
            fh.write(text)
        total_docs += n
        total_bytes += len(text.encode())
    print(f"{a.files} files, {total_docs} documents, {total_bytes} bytes")


if __name__ == "__main__":
    main()
