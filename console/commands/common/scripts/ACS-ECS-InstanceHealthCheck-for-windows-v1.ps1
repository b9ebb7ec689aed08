# ACS-ECS-InstanceHealthCheck-for-windows.ps1: a read-only health report of a Windows machine (uptime,
# CPU load, fixed disks, memory, the Assist agent) ending with "health: OK" or "health: WARNING".
# Parameters: disk_threshold (percent of a disk in use that counts as a problem).
$ErrorActionPreference = 'Stop'
$diskThreshold = [int]'{{disk_threshold}}'
$problems = @()

$os = Get-CimInstance -ClassName Win32_OperatingSystem
$uptime = (Get-Date) - $os.LastBootUpTime
Write-Output ("== health check of {0} at {1:u}" -f $env:COMPUTERNAME, (Get-Date).ToUniversalTime())
Write-Output ("uptime: {0:dd\.hh\:mm\:ss}" -f $uptime)

$load = (Get-CimInstance -ClassName Win32_Processor | Measure-Object -Property LoadPercentage -Average).Average
Write-Output ("cpu load: {0}%" -f $load)

Write-Output ("== fixed disks (threshold {0}%)" -f $diskThreshold)
foreach ($disk in Get-CimInstance -ClassName Win32_LogicalDisk -Filter 'DriveType=3') {
    if ($disk.Size -gt 0) {
        $used = [math]::Round(100 * ($disk.Size - $disk.FreeSpace) / $disk.Size, 1)
        Write-Output ("{0} {1}% used of {2:N1} GB" -f $disk.DeviceID, $used, ($disk.Size / 1GB))
        if ($used -ge $diskThreshold) { $problems += "$($disk.DeviceID) is $used% full" }
    }
}

Write-Output '== memory'
$freePercent = [math]::Round(100 * $os.FreePhysicalMemory / $os.TotalVisibleMemorySize, 1)
Write-Output ("{0:N0} kB free of {1:N0} kB ({2}%)" -f $os.FreePhysicalMemory, $os.TotalVisibleMemorySize, $freePercent)
if ($freePercent -lt 5) { $problems += "less than 5% of memory is free" }

Write-Output '== assist agent'
$agent = Get-Process | Where-Object { $_.ProcessName -like '*assist*' }
if ($agent) { Write-Output 'agent: running' } else { $problems += 'no assist agent process is running' }

foreach ($problem in $problems) { Write-Output "problem: $problem" }
if ($problems.Count -eq 0) { Write-Output 'health: OK' } else { Write-Output ("health: WARNING ({0} problem(s))" -f $problems.Count) }
