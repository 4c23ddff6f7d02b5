def check(task, trajectory, initial, final):
    return True
