"""Skills tutorials (issue 6, in progress): course folders (:mod:`.course`) and each
student's own copy, updated without losing their edits (:mod:`.sync`)."""
