"""``duck doctor``: the preflight checklist (:mod:`.checks`) and its software-servo rig (:mod:`.sim_rig`)."""
