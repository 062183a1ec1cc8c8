# Seed 003's setting: 4 sync workers. No access log (Stratus's request log goes to /dev/null in the bench).
workers = 4
worker_class = "sync"
accesslog = None
errorlog = "-"
loglevel = "warning"
