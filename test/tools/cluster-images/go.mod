// The two programs the cluster tests pack into images from bytes (local/cluster-images.ts): the node's
// sandbox (pause) image and a probe for the cluster's own test. Standard library only.
module portcullis.dev/test/tools/cluster-images

go 1.26.0
