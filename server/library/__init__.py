"""The lesson library on the control plane: where its files live, Recordings of live lessons,
Resources and their processing into Renditions (by `media.renditions`, in a background job)."""
